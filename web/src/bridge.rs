//! One message over `postMessage`: the JSON of a protocol message, then the files that go with it
//! as name / `Uint8Array` pairs whose buffers are transferred rather than copied (a model is
//! hundreds of megabytes). Written by hand rather than with gloo-worker because the page must also
//! hear of a worker that died (its `error` event) and move large files without re-encoding them.

use js_sys::{Array, Uint8Array};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;

/// Name and contents of a file that travels with a message.
pub type Files = Vec<(String, Vec<u8>)>;

/// The message and the list of buffers to transfer with it.
pub fn encode<T: Serialize>(message: &T, files: &Files) -> (Array, Array) {
    let json = serde_json::to_string(message).expect("protocol messages serialise");
    let out = Array::new();
    let transfer = Array::new();
    out.push(&JsValue::from_str(&json));
    for (name, bytes) in files {
        let array = Uint8Array::from(bytes.as_slice());
        transfer.push(&array.buffer());
        out.push(&JsValue::from_str(name));
        out.push(&array);
    }
    (out, transfer)
}

pub fn decode<T: DeserializeOwned>(data: &JsValue) -> Result<(T, Files), String> {
    let array: &Array = wasm_bindgen::JsCast::dyn_ref(data).ok_or("a message that is not an array")?;
    let json = array.get(0).as_string().ok_or("a message without its JSON")?;
    let message = serde_json::from_str(&json).map_err(|e| format!("an unreadable message: {e}"))?;
    let mut files = Vec::new();
    let mut i = 1;
    while i + 1 < array.length() {
        let name = array.get(i).as_string().ok_or("a file without a name")?;
        let bytes: Uint8Array = wasm_bindgen::JsCast::dyn_into(array.get(i + 1)).map_err(|_| "a file without bytes")?;
        files.push((name, bytes.to_vec()));
        i += 2;
    }
    Ok((message, files))
}
