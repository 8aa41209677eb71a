//! The hops of the read-receipt cycle that readsim times: the vocabulary shared by the
//! scenario's SLO keys, the metrics and every report.

/// The hops of the send -> read -> receipt -> notify -> pull cycle that get a histogram.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hop {
    /// Send invoked -> its acknowledgement.
    SendAck,
    /// Send invoked -> the `new_message` push at each online recipient.
    DeliveryPush,
    /// Receipt batch invoked -> its acknowledgement.
    ReceiptAck,
    /// Receipt invoked -> the sender's first push that covers it.
    ReceiptNotify,
    /// Count pull (`get_message_read_receipts`) invoked -> response.
    Pull,
    /// Member-list page invoked -> response.
    MemberListPage,
    /// Receipt invoked -> the sender's first count pull that shows it.
    ReceiptVisibleInPull,
    /// History page invoked -> response.
    HistoryPull,
    /// `mark_c2c_message_as_read` invoked -> acknowledgement.
    MarkReadAck,
    /// How late the harness started operations after their intended time.
    HarnessLateness,
}

impl Hop {
    pub const ALL: [Hop; 10] = [
        Hop::SendAck,
        Hop::DeliveryPush,
        Hop::ReceiptAck,
        Hop::ReceiptNotify,
        Hop::Pull,
        Hop::MemberListPage,
        Hop::ReceiptVisibleInPull,
        Hop::HistoryPull,
        Hop::MarkReadAck,
        Hop::HarnessLateness,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Hop::SendAck => "send_ack",
            Hop::DeliveryPush => "delivery_push",
            Hop::ReceiptAck => "receipt_ack",
            Hop::ReceiptNotify => "receipt_to_notified",
            Hop::Pull => "receipt_pull",
            Hop::MemberListPage => "member_list_page",
            Hop::ReceiptVisibleInPull => "receipt_to_visible_in_pull",
            Hop::HistoryPull => "history_pull",
            Hop::MarkReadAck => "mark_read_ack",
            Hop::HarnessLateness => "harness_lateness",
        }
    }
}
