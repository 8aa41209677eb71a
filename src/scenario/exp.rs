use super::*;
fn run(t: &str) {
    match toml::Deserializer::parse(t) {
        Err(e) => println!("SYNTAX {:?} span={:?}", e.message(), e.span()),
        Ok(d) => match serde_path_to_error::deserialize::<_, Scenario>(d) {
            Ok(_) => println!("OK"),
            Err(e) => println!("path={} segs={:?} msg={:?} span={:?} text={:?}", e.path(), e.path().iter().collect::<Vec<_>>(), e.inner().message(), e.inner().span(), e.inner().span().map(|s| &t[s])),
        },
    }
}
#[test]
fn exp() {
    let base = "name = \"x\"\nduration = \"10m\"\n";
    for extra in [
        "[reading]\nbogus = 1\n",
        "[reading]\nread_probability = \"a\"\n",
        "[reading]\ndelay = { dist = \"exp\", mean = \"5s\", max = 3 }\n",
        "[reading]\ndelay = { dist = \"exp\", mean = \"5s\", maxx = \"3s\" }\n",
        "[reading]\ndelay = { dist = \"exp\", mean = \"5s\" }\n",
        "[reading]\ndelay = { dist = \"expo\", mean = \"5s\" }\n",
        "[reading]\ndelay = { mean = \"5s\" }\n",
        "[reading.delay]\ndist = \"exp\"\nmean = \"5x\"\nmax = \"3s\"\n",
        "[[groups]]\ncount = 1\ntype = \"Work\"\nsize = { dist = \"fixed\", value = 3 }\n[[groups]]\ncount = 1\ntype = \"Work\"\nsize = { dist = \"uniform\", min = 3, max = \"x\" }\n",
        "[[groups]]\ncount = 1\ntype = \"Work\"\nsize = { dist = \"fixed\", value = 3 }\n[[groups]]\ncount = 1\ntype = \"Wrk\"\nsize = { dist = \"uniform\", min = 3, max = 4 }\n",
        "[[groups]]\ncount = 1\ntype = \"Work\"\nsize = { dist = \"fixed\", value = 3 }\n[[groups]]\ntype = \"Work\"\nsize = { dist = \"uniform\", min = 3, max = 4 }\n",
        "[[groups]]\ncount = 1\ntype = \"Work\"\nsize = { dist = \"fixed\", value = 3 }\n[[groups]]\ncount = -1\ntype = \"Work\"\nsize = { dist = \"uniform\", min = 3, max = 4 }\n",
        "[population]\nusers = 5000000000\n",
        "seed = 1.5\n",
        "[checks]\nliveness_bound = \"5 parsecs\"\n",
        "[checks]\nliveness_bound = 5\n",
        "[receipts]\nenabled_types = [\"Work\", \"Nope\"]\n",
    ] {
        println!("--- {extra:?}");
        run(&format!("{base}{extra}"));
    }
    println!("--- missing name");
    run("duration = \"1s\"\n");
    run("name = \"x\"\nduration = \"1s\"\n[reading\n");
    run("name = \"x\"\nduration = \"1s\"\n\nname = \"y\"\n");
}
