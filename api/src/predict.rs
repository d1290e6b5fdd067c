//! Predictions on the wire: `POST /api/v1/deployments/{name}/predict` and the Open Inference
//! Protocol (v2) bodies under `/v2/models/{name}` (their binary form is in [`crate::oip`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `{"instances": [[f, ...], ...]}` or `{"instances": [{"column": value, ...}, ...]}` (values
/// numbers, strings, booleans or null for missing, as the model's signature says). The
/// instances stay raw JSON so the server can name the exact row and field that is wrong.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    pub instances: Vec<serde_json::Value>,
    /// Requests with the same key go to the same variant (primary or canary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// One prediction: a class with every class's probability, or a value. The class names are
/// shared (`Arc<str>`): a model answers with the same few names on every row, and a batch
/// would otherwise copy each of them once a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Prediction {
    Class {
        label: Arc<str>,
        probabilities: Probabilities,
    },
    Value(f64),
}

/// Every class's probability by class name, a JSON object on the wire (`{"0": 0.9, "1": 0.1}`),
/// its names in sorted order. The rows of one answer share one list of names, so a row holds
/// only its numbers: a 64-row answer would otherwise build 64 maps of every class.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probabilities {
    /// Sorted and unique, as many as `values`.
    names: Arc<[Arc<str>]>,
    values: Vec<f64>,
}

impl Probabilities {
    /// The probabilities `values[i]` of classes `names[i]`, where `names` is sorted and unique
    /// (a model's names sorted once, shared by every row); `None` when it is not, or when the
    /// lengths differ.
    pub fn of_sorted(names: Arc<[Arc<str>]>, values: Vec<f64>) -> Option<Self> {
        let sorted = names.windows(2).all(|pair| pair[0] < pair[1]);
        (sorted && names.len() == values.len()).then_some(Self { names, values })
    }

    /// The probability of class `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.names
            .binary_search_by(|probe| (**probe).cmp(name))
            .ok()
            .map(|index| self.values[index])
    }

    /// (class, probability) in class-name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.names
            .iter()
            .map(|name| &**name)
            .zip(self.values.iter().copied())
    }

    /// The probabilities in class-name order.
    pub fn values(&self) -> std::slice::Iter<'_, f64> {
        self.values.iter()
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl<N: Into<Arc<str>>> FromIterator<(N, f64)> for Probabilities {
    /// From (class, probability) pairs in any order; a class given twice keeps its last.
    fn from_iter<I: IntoIterator<Item = (N, f64)>>(pairs: I) -> Self {
        let map: BTreeMap<Arc<str>, f64> = pairs.into_iter().map(|(n, p)| (n.into(), p)).collect();
        Self {
            names: map.keys().cloned().collect(),
            values: map.into_values().collect(),
        }
    }
}

impl std::ops::Index<&str> for Probabilities {
    type Output = f64;

    /// The probability of class `name`; panics when the answer has no such class.
    fn index(&self, name: &str) -> &f64 {
        match self.names.binary_search_by(|probe| (**probe).cmp(name)) {
            Ok(index) => &self.values[index],
            Err(_) => panic!("no probability for class '{name}'"),
        }
    }
}

impl Serialize for Probabilities {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Probabilities {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<Arc<str>, f64>::deserialize(deserializer)?;
        Ok(map.into_iter().collect())
    }
}

/// The answer: predictions in request order, and what answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictResponse {
    pub predictions: Vec<Prediction>,
    pub model_version: u32,
    pub deployment_revision: u32,
    /// `primary` or `canary`.
    pub variant: String,
    /// Columns of named instances the model does not read, each once (table models ignore
    /// them; all-numeric models refuse unknown names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_columns: Vec<String>,
}

/// One tensor of an Open Inference Protocol request or response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferTensor {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: String,
    /// Row-major data, flat or nested; absent (null) when the tensor travels as binary data
    /// after the JSON header (see [`crate::oip`]).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
}

/// `POST /v2/models/{name}/infer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub inputs: Vec<InferTensor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
    /// The outputs to answer with (all of them when absent), each optionally asking for
    /// binary data with `parameters.binary_data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<RequestedOutput>>,
}

/// One output a request asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestedOutput {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
}

/// The answer to an infer request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferResponse {
    pub model_name: String,
    pub model_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub outputs: Vec<InferTensor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
}

/// `GET /v2`: who answers, and which protocol extensions it speaks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerMetadata {
    pub name: String,
    pub version: String,
    pub extensions: Vec<String>,
}

/// The declaration of one tensor a model reads or writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorMetadata {
    pub name: String,
    pub datatype: String,
    /// `-1` for a dimension of any size (the rows).
    pub shape: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
}

/// `GET /v2/models/{name}[/versions/{v}]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub name: String,
    /// Every version the deployment serves (primary first), or the one asked for.
    pub versions: Vec<String>,
    pub platform: String,
    pub inputs: Vec<TensorMetadata>,
    pub outputs: Vec<TensorMetadata>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_travel_as_an_object_in_name_order_and_come_back_equal() {
        let names: Arc<[Arc<str>]> = ["cat", "dog"].into_iter().map(Arc::from).collect();
        let shared = Probabilities::of_sorted(names, vec![0.25, 0.75]).unwrap();
        let built: Probabilities = [("dog", 0.75), ("cat", 0.25)].into_iter().collect();
        assert_eq!(shared, built);
        let json = serde_json::to_string(&shared).unwrap();
        assert_eq!(json, r#"{"cat":0.25,"dog":0.75}"#);
        let back: Probabilities = serde_json::from_str(r#"{"dog":0.75,"cat":0.25}"#).unwrap();
        assert_eq!(back, shared);
        assert_eq!((shared.get("dog"), shared.get("cow")), (Some(0.75), None));
        assert_eq!(shared["cat"], 0.25);
        assert_eq!(
            shared.iter().collect::<Vec<_>>(),
            [("cat", 0.25), ("dog", 0.75)]
        );
    }

    #[test]
    fn names_out_of_order_or_not_one_a_value_are_refused() {
        let names = |list: &[&str]| list.iter().map(|&n| Arc::from(n)).collect::<Arc<[_]>>();
        assert!(Probabilities::of_sorted(names(&["dog", "cat"]), vec![0.5, 0.5]).is_none());
        assert!(Probabilities::of_sorted(names(&["cat", "cat"]), vec![0.5, 0.5]).is_none());
        assert!(Probabilities::of_sorted(names(&["cat"]), vec![0.5, 0.5]).is_none());
    }

    #[test]
    fn a_prediction_reads_back_as_a_class_or_a_value() {
        let class: Prediction =
            serde_json::from_str(r#"{"label":"dog","probabilities":{"cat":0.1,"dog":0.9}}"#)
                .unwrap();
        let Prediction::Class {
            label,
            probabilities,
        } = &class
        else {
            panic!("expected a class, got {class:?}");
        };
        assert_eq!((&**label, probabilities.len()), ("dog", 2));
        assert_eq!(
            serde_json::from_str::<Prediction>("2.5").unwrap(),
            Prediction::Value(2.5)
        );
    }
}
