//! One of the Hub's GLUE parquet files (nyu-mll/glue), read as every task's schema.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webtune::data::Task;

fuzz_target!(|data: &[u8]| {
    for task in Task::ALL {
        let _ = task.parse_parquet(data, "train.parquet");
    }
});
