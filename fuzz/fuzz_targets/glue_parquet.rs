//! One of the Hub's GLUE parquet files (nyu-mll/glue), read as MRPC and as SST-2.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webtune::data::Task;

fuzz_target!(|data: &[u8]| {
    let _ = Task::Mrpc.parse_parquet(data, "train.parquet");
    let _ = Task::Sst2.parse_parquet(data, "train.parquet");
});
