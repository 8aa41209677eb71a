//! The model's rules for Admin.

use super::*;

#[test]
fn admin_errors() {
    let mut h = work_group();
    assert_eq!(
        h.admin(AdminRequest::CreateUser { user: u(1) }),
        err(ErrorCode::UserExists)
    );
    assert_eq!(
        h.admin(AdminRequest::CreateUser {
            user: UserId(MAX_DENSE_ID)
        }),
        err(ErrorCode::InvalidId)
    );
    assert_eq!(
        h.admin(AdminRequest::CreateGroup {
            group: g(1),
            group_type: GroupType::Public,
            members: vec![]
        }),
        err(ErrorCode::GroupExists)
    );
    assert_eq!(
        h.admin(AdminRequest::CreateGroup {
            group: g(2),
            group_type: GroupType::Public,
            members: users(&[0, 99])
        }),
        err(ErrorCode::UserNotFound)
    );
    assert_eq!(
        h.m.group_size(g(2)),
        None,
        "a failed create creates nothing"
    );
    assert_eq!(
        h.admin(AdminRequest::CreateGroup {
            group: GroupId(MAX_DENSE_ID),
            group_type: GroupType::Public,
            members: vec![]
        }),
        err(ErrorCode::InvalidId)
    );
    assert_eq!(
        h.admin(AdminRequest::AddMember {
            group: g(1),
            user: u(1)
        }),
        err(ErrorCode::AlreadyMember)
    );
    assert_eq!(
        h.admin(AdminRequest::AddMember {
            group: g(1),
            user: u(99)
        }),
        err(ErrorCode::UserNotFound)
    );
    assert_eq!(
        h.admin(AdminRequest::AddMember {
            group: g(5),
            user: u(1)
        }),
        err(ErrorCode::GroupNotFound)
    );
    assert_eq!(
        h.admin(AdminRequest::AddMember {
            group: g(5),
            user: u(99)
        }),
        err(ErrorCode::UserNotFound),
        "the user is checked before the group"
    );
    assert_eq!(
        h.admin(AdminRequest::RemoveMember {
            group: g(5),
            user: u(1)
        }),
        err(ErrorCode::GroupNotFound)
    );
    assert_eq!(
        h.admin(AdminRequest::RemoveMember {
            group: g(1),
            user: u(4)
        }),
        err(ErrorCode::NotGroupMember)
    );
    assert_eq!(h.m.group_size(g(1)), Some(4));
    assert!(h.m.is_member(g(1), u(3)));
    assert!(!h.m.is_member(g(1), u(4)));
    assert!(!h.m.is_member(g(5), u(4)));
}

#[test]
fn admin_receipt_config_round_trip_sorted_and_deduplicated() {
    let mut h = H::new(1);
    assert_eq!(
        h.admin(AdminRequest::GetReceiptConfig),
        Response::Config {
            config: ReceiptConfig::default()
        }
    );
    let r = h.admin(AdminRequest::SetReceiptConfig {
        config: ReceiptConfig {
            enabled_types: vec![GroupType::Meeting, GroupType::Work, GroupType::Meeting],
            max_group_size: 7,
        },
    });
    assert_eq!(r, Response::AdminDone);
    assert_eq!(
        h.admin(AdminRequest::GetReceiptConfig),
        Response::Config {
            config: ReceiptConfig {
                enabled_types: vec![GroupType::Work, GroupType::Meeting],
                max_group_size: 7,
            }
        }
    );
}
