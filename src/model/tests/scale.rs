//! The model's rules for Scale.

use super::*;

#[test]
fn large_group_5000_receipts_with_raised_limit() {
    const READERS: u32 = 5_000;
    let config = ReceiptConfig {
        max_group_size: READERS + 1,
        ..ReceiptConfig::default()
    };
    let mut h = H::with_config(READERS + 1, config);
    let all: Vec<u32> = (0..=READERS).collect();
    h.group(1, GroupType::Work, &all);
    let id = h.send(0, Conv::Group(g(1)), true);
    assert_eq!(h.pushes.len(), READERS as usize);
    // Readers in a scrambled but deterministic order (7919 is prime, coprime to 5000).
    let order: Vec<u32> = (0..READERS).map(|i| (i * 7919) % READERS + 1).collect();
    for (i, &r) in order.iter().enumerate() {
        assert_eq!(h.read(r, &[id]), vec![Ok(())]);
        let read = i as u32 + 1;
        assert_eq!(
            receipt_pushes(&h.pushes),
            vec![(u(0), vec![group_entry(id, 1, read, READERS - read)])]
        );
    }
    assert_eq!(h.counts(0, id), (READERS, 0));
    assert_eq!(h.list_all(0, id, ReadFilter::Read, 100), users(&order));
    assert!(h.list_all(0, id, ReadFilter::Unread, 100).is_empty());
    // With the default limit the same group cannot ask for receipts.
    h.admin(AdminRequest::SetReceiptConfig {
        config: ReceiptConfig::default(),
    });
    assert_eq!(
        h.try_send(0, Conv::Group(g(1)), true),
        err(ErrorCode::GroupTooLargeForReceipts)
    );
}
