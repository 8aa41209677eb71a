//! `[population] devices`: connections per user (1..=4, default 1), refused above 1 under the
//! Matrix profile; left out of a written scenario at 1.

use super::{assert_at, err, with_header};
use crate::scenario::parse_str;

#[test]
fn devices_default_to_one_and_are_not_written_then() {
    let s = parse_str(&with_header(""), "t.toml").unwrap();
    assert_eq!((s.population.devices, s.population.device_count()), (1, 1));
    assert!(!toml::to_string(&s).unwrap().contains("devices"));
    let s = parse_str(&with_header("[population]\ndevices = 3\n"), "t.toml").unwrap();
    assert_eq!(s.population.device_count(), 3);
    assert!(toml::to_string(&s).unwrap().contains("devices = 3"));
}

#[test]
fn devices_out_of_range_name_their_line_and_path() {
    for bad in ["0", "5"] {
        let e = err(&with_header(&format!(
            "[population]\nusers = 10\ndevices = {bad}\n"
        )));
        assert_at(&e, 9, "population.devices");
        assert!(e.to_string().contains("must be in 1..=4"), "{e}");
    }
}

#[test]
fn several_devices_are_refused_under_the_matrix_profile() {
    let text = with_header("[population]\ndevices = 2\n[semantics]\nprofile = \"matrix\"\n");
    let e = err(&text);
    assert_at(&e, 8, "population.devices");
    assert!(e.to_string().contains("one connection per user"), "{e}");
    let one = with_header("[population]\ndevices = 1\n[semantics]\nprofile = \"matrix\"\n");
    assert!(parse_str(&one, "t.toml").is_ok());
}
