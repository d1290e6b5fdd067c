//! The Open Inference Protocol's binary tensor data extension (as KServe and Triton define
//! it): a body is a JSON header of `Inference-Header-Content-Length` bytes followed by the raw
//! tensors, in the order of the header's tensors that carry `parameters.binary_data_size`.
//! Values are little-endian and row major; a BYTES element is a 4-byte little-endian length
//! and then its bytes. Both directions live here, so a client and the server agree by
//! construction: the server decodes requests and encodes responses, a client the reverse.

use crate::predict::{InferRequest, InferResponse, InferTensor};
use serde_json::Value;

/// The header that gives the length of the JSON header when binary data follows it.
pub const HEADER_LENGTH: &str = "inference-header-content-length";
/// The tensor parameter that says a tensor travels as this many bytes of binary data.
pub const BINARY_DATA_SIZE: &str = "binary_data_size";

/// Why a body could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The `Inference-Header-Content-Length` header is not a length within the body.
    #[error("Inference-Header-Content-Length: {0}")]
    HeaderLength(String),
    /// The JSON header is malformed or does not have the request's shape.
    #[error("{0}")]
    Json(String),
    /// A tensor's binary data does not match its declaration; the message names the tensor.
    #[error("{0}")]
    Tensor(String),
}

type Result<T> = std::result::Result<T, CodecError>;

fn tensor_error(message: String) -> CodecError {
    CodecError::Tensor(message)
}

/// The values of one tensor, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    Fp32(Vec<f32>),
    Fp64(Vec<f64>),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Bytes(Vec<Vec<u8>>),
}

/// The datatypes that travel as binary data here.
pub const BINARY_DATATYPES: &str = "FP32, FP64, INT32, INT64 and BYTES";

/// The width in bytes of one element of `datatype` (`None` for BYTES), or why it is not
/// supported.
fn element_width(datatype: &str, place: &str) -> Result<Option<usize>> {
    match datatype {
        "FP32" | "INT32" => Ok(Some(4)),
        "FP64" | "INT64" => Ok(Some(8)),
        "BYTES" => Ok(None),
        other => Err(tensor_error(format!(
            "{place}.datatype: binary data is supported for {BINARY_DATATYPES}, got '{other}'"
        ))),
    }
}

/// The number of elements of `shape`, with every dimension checked and the product checked
/// for overflow (a wrapped product must not pass for the data's length).
pub fn element_count(shape: &[i64], place: &str) -> Result<usize> {
    shape.iter().try_fold(1usize, |count, &dim| {
        let dim = usize::try_from(dim).map_err(|_| {
            tensor_error(format!(
                "{place}.shape: expected sizes of 0 or more, got {shape:?}"
            ))
        })?;
        count.checked_mul(dim).ok_or_else(|| {
            tensor_error(format!(
                "{place}.shape: {shape:?} holds more values than can be addressed"
            ))
        })
    })
}

impl TensorData {
    /// The protocol's name of the datatype.
    pub fn datatype(&self) -> &'static str {
        match self {
            Self::Fp32(_) => "FP32",
            Self::Fp64(_) => "FP64",
            Self::Int32(_) => "INT32",
            Self::Int64(_) => "INT64",
            Self::Bytes(_) => "BYTES",
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            Self::Fp32(values) => values.len(),
            Self::Fp64(values) => values.len(),
            Self::Int32(values) => values.len(),
            Self::Int64(values) => values.len(),
            Self::Bytes(values) => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The binary form: little-endian values, or length-prefixed BYTES elements.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            Self::Fp32(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Self::Fp64(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Self::Int32(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Self::Int64(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Self::Bytes(values) => {
                let mut out = Vec::with_capacity(values.iter().map(|v| v.len() + 4).sum());
                for value in values {
                    // Lengths above 4 GiB cannot be written; bodies are far smaller.
                    let length = u32::try_from(value.len()).unwrap_or(u32::MAX);
                    out.extend_from_slice(&length.to_le_bytes());
                    out.extend_from_slice(value);
                }
                out
            }
        }
    }

    /// Reads `count` elements of `datatype` that fill exactly `bytes`; `place` names the
    /// tensor in errors (`inputs[0]`).
    pub fn from_le_bytes(datatype: &str, bytes: &[u8], count: usize, place: &str) -> Result<Self> {
        let Some(width) = element_width(datatype, place)? else {
            return read_bytes_elements(bytes, count, place).map(Self::Bytes);
        };
        let expected = count.checked_mul(width).ok_or_else(|| {
            tensor_error(format!(
                "{place}.shape: holds more values than can be addressed"
            ))
        })?;
        if bytes.len() != expected {
            return Err(tensor_error(format!(
                "{place}.parameters.binary_data_size: {count} {datatype} values take {expected} bytes, got {}",
                bytes.len()
            )));
        }
        Ok(match datatype {
            "FP32" => Self::Fp32(chunks(bytes, f32::from_le_bytes)),
            "FP64" => Self::Fp64(chunks(bytes, f64::from_le_bytes)),
            "INT32" => Self::Int32(chunks(bytes, i32::from_le_bytes)),
            _ => Self::Int64(chunks(bytes, i64::from_le_bytes)),
        })
    }

    /// Reads a tensor's JSON `data` (flat or nested, row major) as `datatype`.
    pub fn from_json(datatype: &str, data: &Value, place: &str) -> Result<Self> {
        let values = flatten(data);
        let bad = |index: usize, value: &Value| {
            tensor_error(format!(
                "{place}.data[{index}]: expected a {datatype} value, got {value}"
            ))
        };
        let numbers = || {
            values
                .iter()
                .enumerate()
                .map(|(i, v)| v.as_f64().ok_or_else(|| bad(i, v)))
        };
        Ok(match datatype {
            "FP32" => Self::Fp32(
                numbers()
                    .map(|v| v.map(|v| v as f32))
                    .collect::<Result<_>>()?,
            ),
            "FP64" => Self::Fp64(numbers().collect::<Result<_>>()?),
            "INT32" => Self::Int32(
                values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        v.as_i64()
                            .and_then(|v| i32::try_from(v).ok())
                            .ok_or_else(|| bad(i, v))
                    })
                    .collect::<Result<_>>()?,
            ),
            "INT64" => Self::Int64(
                values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| v.as_i64().ok_or_else(|| bad(i, v)))
                    .collect::<Result<_>>()?,
            ),
            "BYTES" => Self::Bytes(
                values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        v.as_str()
                            .map(|s| s.as_bytes().to_vec())
                            .ok_or_else(|| bad(i, v))
                    })
                    .collect::<Result<_>>()?,
            ),
            other => {
                return Err(tensor_error(format!(
                    "{place}.datatype: binary data is supported for {BINARY_DATATYPES}, got '{other}'"
                )));
            }
        })
    }

    /// The values as flat JSON `data` (BYTES elements as text, invalid UTF-8 replaced).
    pub fn to_json(&self) -> Value {
        match self {
            Self::Fp32(values) => values.iter().map(|v| Value::from(f64::from(*v))).collect(),
            Self::Fp64(values) => values.iter().map(|v| Value::from(*v)).collect(),
            Self::Int32(values) => values.iter().map(|v| Value::from(*v)).collect(),
            Self::Int64(values) => values.iter().map(|v| Value::from(*v)).collect(),
            Self::Bytes(values) => values
                .iter()
                .map(|v| Value::from(String::from_utf8_lossy(v).into_owned()))
                .collect(),
        }
    }

    /// The values as numbers, for a numeric tensor.
    pub fn to_f64(&self) -> Option<Vec<f64>> {
        match self {
            Self::Fp32(values) => Some(values.iter().map(|v| f64::from(*v)).collect()),
            Self::Fp64(values) => Some(values.clone()),
            Self::Int32(values) => Some(values.iter().map(|v| f64::from(*v)).collect()),
            Self::Int64(values) => Some(values.iter().map(|v| *v as f64).collect()),
            Self::Bytes(_) => None,
        }
    }
}

fn chunks<const N: usize, T>(bytes: &[u8], read: fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|chunk| {
            let mut array = [0u8; N];
            array.copy_from_slice(chunk);
            read(array)
        })
        .collect()
}

fn read_bytes_elements(bytes: &[u8], count: usize, place: &str) -> Result<Vec<Vec<u8>>> {
    let mut rest = bytes;
    let mut elements = Vec::new();
    while !rest.is_empty() {
        let index = elements.len();
        let Some((length, tail)) = rest.split_first_chunk::<4>() else {
            return Err(tensor_error(format!(
                "{place}: BYTES element {index} has a cut length prefix ({} of 4 bytes)",
                rest.len()
            )));
        };
        let length = u32::from_le_bytes(*length) as usize;
        if length > tail.len() {
            return Err(tensor_error(format!(
                "{place}: BYTES element {index} declares {length} bytes, but only {} remain of its binary_data_size",
                tail.len()
            )));
        }
        let (element, tail) = tail.split_at(length);
        elements.push(element.to_vec());
        rest = tail;
    }
    if elements.len() != count {
        return Err(tensor_error(format!(
            "{place}: its shape holds {count} BYTES elements, but its binary data holds {}",
            elements.len()
        )));
    }
    Ok(elements)
}

fn flatten(data: &Value) -> Vec<&Value> {
    let mut values = Vec::new();
    let mut stack = vec![data];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items.iter().rev()),
            other => values.push(other),
        }
    }
    values
}

/// Splits a body into its JSON header and the binary data after it. Without the header, the
/// whole body is JSON.
pub fn split_body<'a>(body: &'a [u8], header_length: Option<&str>) -> Result<(&'a [u8], &'a [u8])> {
    let Some(text) = header_length else {
        return Ok((body, &[]));
    };
    let length: usize = text.trim().parse().map_err(|_| {
        CodecError::HeaderLength(format!(
            "expected the JSON header's length in bytes, got '{text}'"
        ))
    })?;
    if length > body.len() {
        return Err(CodecError::HeaderLength(format!(
            "{length} is longer than the body of {} bytes",
            body.len()
        )));
    }
    Ok(body.split_at(length))
}

/// The declared binary size of a tensor, if it travels as binary data.
fn binary_size(tensor: &InferTensor, place: &str) -> Result<Option<usize>> {
    let Some(size) = tensor
        .parameters
        .as_ref()
        .and_then(|parameters| parameters.get(BINARY_DATA_SIZE))
    else {
        return Ok(None);
    };
    let size = size
        .as_u64()
        .and_then(|size| usize::try_from(size).ok())
        .ok_or_else(|| {
            tensor_error(format!(
                "{place}.parameters.binary_data_size: expected a byte count, got {size}"
            ))
        })?;
    if !tensor.data.is_null() {
        return Err(tensor_error(format!(
            "{place}: has both data and parameters.binary_data_size; send one of them"
        )));
    }
    Ok(Some(size))
}

/// Reads the binary data of `tensors` (the `field` list of a request or response) from
/// `tail`, in order; one entry per tensor, `None` for a tensor given as JSON. The sizes must
/// add up to the whole tail.
pub fn read_binary(
    tensors: &[InferTensor],
    tail: &[u8],
    field: &str,
) -> Result<Vec<Option<TensorData>>> {
    let mut rest = tail;
    let mut out = Vec::with_capacity(tensors.len());
    for (index, tensor) in tensors.iter().enumerate() {
        let place = format!("{field}[{index}]");
        let Some(size) = binary_size(tensor, &place)? else {
            out.push(None);
            continue;
        };
        if size > rest.len() {
            return Err(tensor_error(format!(
                "{place}.parameters.binary_data_size: {size} bytes, but only {} bytes of binary data remain after the JSON header and the tensors before it",
                rest.len()
            )));
        }
        let count = element_count(&tensor.shape, &place)?;
        let (bytes, after) = rest.split_at(size);
        out.push(Some(TensorData::from_le_bytes(
            &tensor.datatype,
            bytes,
            count,
            &place,
        )?));
        rest = after;
    }
    if !rest.is_empty() {
        let declared = tail.len() - rest.len();
        return Err(tensor_error(format!(
            "the body has {} bytes after the JSON header, but the binary_data_size of the {field} add up to {declared}",
            tail.len()
        )));
    }
    Ok(out)
}

/// Turns the tensors `binary` picks into binary data: their `data` goes, their
/// `parameters.binary_data_size` comes; returns the bytes to send after the JSON header.
pub fn write_binary(
    tensors: &mut [InferTensor],
    field: &str,
    binary: impl Fn(&InferTensor) -> bool,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (index, tensor) in tensors.iter_mut().enumerate() {
        if !binary(tensor) {
            continue;
        }
        let place = format!("{field}[{index}]");
        let data = TensorData::from_json(&tensor.datatype, &tensor.data, &place)?;
        let bytes = data.to_le_bytes();
        let mut parameters = match tensor.parameters.take() {
            Some(Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        parameters.insert(BINARY_DATA_SIZE.to_owned(), Value::from(bytes.len()));
        tensor.parameters = Some(Value::Object(parameters));
        tensor.data = Value::Null;
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

fn parse_json<T: serde::de::DeserializeOwned>(header: &[u8]) -> Result<T> {
    serde_json::from_slice(header).map_err(|err| {
        CodecError::Json(match err.classify() {
            serde_json::error::Category::Data => format!("invalid request body: {err}"),
            _ => format!("malformed JSON: {err}"),
        })
    })
}

/// A JSON header followed by binary data: the body to send, and the header's length when
/// binary data follows (the value of `Inference-Header-Content-Length`).
fn join(header: &impl serde::Serialize, binary: Vec<u8>) -> Result<(Vec<u8>, Option<usize>)> {
    let mut body = serde_json::to_vec(header).map_err(|err| CodecError::Json(err.to_string()))?;
    if binary.is_empty() {
        return Ok((body, None));
    }
    let length = body.len();
    body.extend_from_slice(&binary);
    Ok((body, Some(length)))
}

/// Reads a request body: its JSON, and the binary data of its inputs (one entry per input).
pub fn decode_request(
    body: &[u8],
    header_length: Option<&str>,
) -> Result<(InferRequest, Vec<Option<TensorData>>)> {
    let (header, tail) = split_body(body, header_length)?;
    let request: InferRequest = parse_json(header)?;
    let binary = read_binary(&request.inputs, tail, "inputs")?;
    Ok((request, binary))
}

/// Writes a request with every input as binary data (when `binary`), as a client would.
pub fn encode_request(mut request: InferRequest, binary: bool) -> Result<(Vec<u8>, Option<usize>)> {
    let bytes = write_binary(&mut request.inputs, "inputs", |_| binary)?;
    join(&request, bytes)
}

/// Writes a response with the outputs `binary` picks as binary data.
pub fn encode_response(
    mut response: InferResponse,
    binary: impl Fn(&InferTensor) -> bool,
) -> Result<(Vec<u8>, Option<usize>)> {
    let bytes = write_binary(&mut response.outputs, "outputs", binary)?;
    join(&response, bytes)
}

/// Reads a response body, turning binary outputs back into JSON `data`, as a client would.
pub fn decode_response(body: &[u8], header_length: Option<&str>) -> Result<InferResponse> {
    let (header, tail) = split_body(body, header_length)?;
    let mut response: InferResponse = parse_json(header)?;
    let binary = read_binary(&response.outputs, tail, "outputs")?;
    for (output, data) in response.outputs.iter_mut().zip(binary) {
        if let Some(data) = data {
            output.data = data.to_json();
        }
    }
    Ok(response)
}

/// Which outputs of the answer to a request travel as binary data: a requested output's
/// `parameters.binary_data` when it says, else the request's `parameters.binary_data_output`,
/// else none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinaryOutputs {
    default: bool,
    named: Vec<(String, bool)>,
}

impl BinaryOutputs {
    /// Reads the request's choices; a flag that is not a boolean is an error naming it.
    pub fn of(request: &InferRequest) -> Result<Self> {
        let flag = |parameters: Option<&Value>, key: &str, place: &str| match parameters
            .and_then(|p| p.get(key))
        {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(other) => Err(tensor_error(format!(
                "{place}.{key}: expected true or false, got {other}"
            ))),
        };
        let default = flag(
            request.parameters.as_ref(),
            "binary_data_output",
            "parameters",
        )?
        .unwrap_or(false);
        let mut named = Vec::new();
        for (index, output) in request.outputs.iter().flatten().enumerate() {
            let place = format!("outputs[{index}].parameters");
            if let Some(binary) = flag(output.parameters.as_ref(), "binary_data", &place)? {
                named.push((output.name.clone(), binary));
            }
        }
        Ok(Self { default, named })
    }

    /// Whether output `name` goes as binary data.
    pub fn is_binary(&self, name: &str) -> bool {
        self.named
            .iter()
            .find(|(named, _)| named == name)
            .map_or(self.default, |(_, binary)| *binary)
    }
}

#[cfg(test)]
#[path = "oip_tests.rs"]
mod tests;
