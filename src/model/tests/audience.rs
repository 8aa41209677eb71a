//! The model's rules for Audience snapshot.

use super::*;

#[test]
fn audience_snapshot_fixed_when_members_join_and_leave_later() {
    let mut h = work_group();
    let m1 = h.send(0, Conv::Group(g(1)), true);
    h.add(1, 4);
    h.remove(1, 3);
    let m2 = h.send(0, Conv::Group(g(1)), true);
    h.add(1, 5);
    h.remove(1, 1);
    assert_eq!(h.m.audience(m1), users(&[1, 2, 3]));
    assert_eq!(h.m.audience(m2), users(&[1, 2, 4]));
    assert_eq!(h.m.message(m1).unwrap().audience_len, 3);
    assert_eq!(h.counts(0, m1), (0, 3));
    assert_eq!(h.counts(0, m2), (0, 3));
    let m3 = h.send(0, Conv::Group(g(1)), true);
    assert_eq!(h.m.audience(m3), users(&[2, 4, 5]));
    assert_eq!(
        h.read(4, &[m1, m2, m3]),
        vec![Err(ErrorCode::NotInAudience), Ok(()), Ok(())]
    );
    assert_eq!(h.read(3, &[m1]), vec![Err(ErrorCode::ReaderLeftGroup)]);
    assert_eq!(h.read(1, &[m2]), vec![Err(ErrorCode::ReaderLeftGroup)]);
    assert_eq!(h.read(2, &[m1, m2, m3]), vec![Ok(()); 3]);
    assert_eq!(h.counts(0, m1), (1, 2));
    assert_eq!(h.counts(0, m2), (2, 1));
    assert_eq!(h.counts(0, m3), (2, 1));
    assert_eq!(h.m.audience(MsgId(99)), Vec::<UserId>::new());
    assert_eq!(h.m.message(MsgId(99)), None);
}
