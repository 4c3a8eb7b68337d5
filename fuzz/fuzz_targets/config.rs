//! config.json: parsed and validated, its activation resolved, written back out with labels.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webtune::model::BertConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = BertConfig::from_json(data, "config.json") else { return };
    let _ = config.activation("config.json");
    let _ = config.head_dim();
    let labelled = config.with_labels(&["no", "yes"]);
    let _ = labelled.to_pretrained_json(Some(data));
    let _ = webtune::train::memory::estimate(&labelled, 8, 128);
});
