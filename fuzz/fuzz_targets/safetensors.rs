//! A model.safetensors file: parsed, then every tensor asked for under its own name and shape (as
//! `Vars` does while building a model) and under a wrong shape. Errors are fine; panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webtune::model::weights::{Init, Vars, WeightFile};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = WeightFile::from_bytes(data, "model.safetensors") else { return };
    let names: Vec<(String, Vec<usize>)> = file.shapes().map(|(n, s)| (n.to_string(), s.to_vec())).collect();
    let mut vars = Vars::strict(file, &burn::tensor::Device::flex());
    for (name, shape) in names.iter().take(8) {
        let _ = vars.host(name, shape, Init::Zeros);
        let mut wrong = shape.clone();
        wrong.push(2);
        let _ = vars.host(name, &wrong, Init::Zeros);
    }
});
