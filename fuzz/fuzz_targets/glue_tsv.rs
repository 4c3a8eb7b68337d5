//! A GLUE TSV file, read as MRPC and as SST-2.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webtune::data::Task;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = Task::Mrpc.parse_tsv(text, "train.tsv");
    let _ = Task::Sst2.parse_tsv(text, "train.tsv");
});
