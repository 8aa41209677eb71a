use readsim::history::{Event, Observer};
use readsim::model::Model;
use readsim::target::ModelTarget;
struct P {
    needle: Vec<String>,
}
impl Observer for P {
    fn observe(&mut self, ev: &Event<'_>) {
        let s = format!("{ev:?}");
        if self.needle.iter().any(|n| s.contains(n.as_str())) {
            println!("{s}");
        }
    }
}
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let s = readsim::scenario::load_file(std::path::Path::new(&a[1])).unwrap();
    let seed: u64 = a[2].parse().unwrap();
    let mut t = ModelTarget::new(Model::new(s.receipts.config()));
    let mut p = P {
        needle: a[3..].to_vec(),
    };
    readsim::sim::run_observed(&s, seed, &mut t, &mut p);
}
