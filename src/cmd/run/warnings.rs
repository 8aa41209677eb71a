//! Traffic a scenario asks for that its population cannot produce. A run of such a scenario
//! checks less than its file suggests, so the verdict carries these as warnings.

use crate::scenario::Scenario;
use crate::workload::Plan;

/// One sentence per shortfall, each naming the knob to change.
pub fn traffic_warnings(s: &Scenario, plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    let online = plan.online.iter().filter(|&&o| o).count();
    if (s.c2c.pairs as usize) > plan.pairs.len() {
        out.push(format!(
            "c2c.pairs asks for {} 1:1 pairs but the {online} online users make only {}; raise \
             population.users or population.online_share",
            s.c2c.pairs,
            plan.pairs.len()
        ));
    }
    let silent = plan
        .groups
        .iter()
        .filter(|g| g.online_members.is_empty())
        .count();
    if silent > 0 {
        out.push(format!(
            "{silent} of {} groups have no online member, so nobody sends in them; raise \
             population.online_share or the group sizes",
            plan.groups.len()
        ));
    }
    if s.traffic.group_messages_per_sec > 0.0 && silent == plan.groups.len() {
        out.push(
            "traffic.group_messages_per_sec is set but no group can send (no [[groups]], or \
             none with an online member)"
                .to_string(),
        );
    }
    if s.traffic.c2c_messages_per_sec > 0.0 && plan.pairs.is_empty() {
        out.push(
            "traffic.c2c_messages_per_sec is set but there is no 1:1 pair (c2c.pairs, or \
             fewer than two online users)"
                .to_string(),
        );
    }
    if s.traffic.group_messages_per_sec <= 0.0 && s.traffic.c2c_messages_per_sec <= 0.0 {
        out.push("the scenario sends no messages: both traffic rates are 0".to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Streams;

    fn warnings(toml: &str) -> Vec<String> {
        let s = crate::scenario::parse_str(toml, "test").unwrap();
        traffic_warnings(&s, &Plan::draw(&s, &Streams::new(s.seed)))
    }

    #[test]
    fn a_population_that_fits_its_traffic_gets_no_warning() {
        let w = warnings(
            "name = \"t\"\nduration = \"10s\"\n[population]\nusers = 50\nonline_share = 1.0\n\
             [[groups]]\ncount = 2\ntype = \"Work\"\nsize = { dist = \"uniform\", min = 3, max = 5 }\n\
             [c2c]\npairs = 5\n",
        );
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn pairs_beyond_the_online_users_and_groups_without_senders_are_named() {
        let w = warnings(
            "name = \"t\"\nduration = \"10s\"\n[population]\nusers = 12\nonline_share = 0.3\n\
             [c2c]\npairs = 60\n",
        );
        assert!(
            w.iter().any(|x| x.contains("c2c.pairs asks for 60")),
            "{w:?}"
        );
        assert!(
            w.iter().any(|x| x.contains("no group can send")),
            "no groups but a group rate: {w:?}"
        );
    }
}
