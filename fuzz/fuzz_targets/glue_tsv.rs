//! A GLUE TSV file, read as every task's layout.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webtune::data::Task;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for task in Task::ALL {
        let _ = task.parse_tsv(text, "train.tsv");
    }
});
