//! A small builder for ONNX graphs over the generated protobuf types of `tract_onnx::pb`: nodes
//! that name their outputs, weights as initializers, scalar constants shared by value.
//!
//! The generated types are proto3 (a scalar field equal to zero is not written), while ONNX
//! readers such as ONNX Runtime ask whether an attribute's field is present: an integer or float
//! attribute equal to zero would read as "no value". [`Attr::int`] and [`Attr::float`] therefore
//! refuse zero, and the graph code is written so that it never needs one.

use std::collections::HashMap;
use tract_onnx::pb;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;

/// A node attribute.
pub(crate) struct Attr(pb::AttributeProto);

impl Attr {
    /// An integer attribute; `value` must not be 0 (see the module docs).
    pub(crate) fn int(name: &str, value: i64) -> Self {
        assert!(value != 0, "attribute {name} = 0 would not be written by proto3 types; write the graph without it");
        Attr(pb::AttributeProto {
            name: name.into(),
            r#type: AttributeType::Int as i32,
            i: value,
            ..Default::default()
        })
    }

    /// A float attribute; `value` must not be 0 (see the module docs).
    pub(crate) fn float(name: &str, value: f32) -> Self {
        assert!(value != 0.0, "attribute {name} = 0 would not be written by proto3 types; write the graph without it");
        Attr(pb::AttributeProto {
            name: name.into(),
            r#type: AttributeType::Float as i32,
            f: value,
            ..Default::default()
        })
    }

    /// A list of integers (a repeated field: zeros are written).
    pub(crate) fn ints(name: &str, values: &[i64]) -> Self {
        Attr(pb::AttributeProto {
            name: name.into(),
            r#type: AttributeType::Ints as i32,
            ints: values.to_vec(),
            ..Default::default()
        })
    }
}

/// The nodes and initializers of a graph under construction.
#[derive(Default)]
pub(crate) struct Graph {
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
    /// Scalar constants already added, by their bits.
    scalars: HashMap<u32, String>,
    /// Outputs named so far, so that a name is never given twice.
    taken: HashMap<String, usize>,
}

impl Graph {
    /// Adds a node `op` reading `inputs`; its one output is named after `scope` and the op, and
    /// returned.
    pub(crate) fn node(&mut self, scope: &str, op: &str, inputs: &[&str], attrs: Vec<Attr>) -> String {
        let output = self.fresh(&format!("{scope}/{}", op.to_lowercase()));
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.clone()],
            name: output.clone(),
            op_type: op.into(),
            attribute: attrs.into_iter().map(|a| a.0).collect(),
            ..Default::default()
        });
        output
    }

    /// Adds an f32 initializer `name` of shape `dims` holding `data` (row-major) and returns its name.
    pub(crate) fn weight(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        assert_eq!(dims.iter().product::<usize>(), data.len(), "initializer {name}: shape {dims:?}");
        let name = self.fresh(name);
        self.initializers.push(pb::TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Float as i32,
            name: name.clone(),
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// An int64 initializer (shapes for `Reshape`) and its name.
    pub(crate) fn ints(&mut self, name: &str, data: &[i64]) -> String {
        let name = self.fresh(name);
        self.initializers.push(pb::TensorProto {
            dims: vec![data.len() as i64],
            data_type: DataType::Int64 as i32,
            name: name.clone(),
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// A scalar f32 constant (broadcast by the element-wise ops), added once per value.
    pub(crate) fn scalar(&mut self, value: f32) -> String {
        if let Some(name) = self.scalars.get(&value.to_bits()) {
            return name.clone();
        }
        let name = self.weight(&format!("const/{value:e}"), &[], &[value]);
        self.scalars.insert(value.to_bits(), name.clone());
        name
    }

    /// Renames the output `value` of the last node to `name`: the graph's outputs carry fixed
    /// names. `value` must be the last node's output, read by no node yet.
    pub(crate) fn rename_last(&mut self, value: &str, name: &str) -> String {
        let last = self.nodes.last_mut().expect("a graph output comes from a node");
        assert_eq!(last.output[0], value, "only the last node's output can be renamed");
        last.output[0] = name.to_string();
        name.to_string()
    }

    /// The nodes and initializers, for a `GraphProto`.
    pub(crate) fn into_parts(self) -> (Vec<pb::NodeProto>, Vec<pb::TensorProto>) {
        (self.nodes, self.initializers)
    }

    /// `base`, or `base.N` when `base` is taken.
    fn fresh(&mut self, base: &str) -> String {
        let n = self.taken.entry(base.to_string()).or_insert(0);
        *n += 1;
        if *n == 1 {
            base.to_string()
        } else {
            format!("{base}.{}", *n - 1)
        }
    }
}

/// A float tensor value of the graph's interface: shape `dims`, where `None` is the batch dimension `N`.
pub(crate) fn value_info(name: &str, dims: &[Option<usize>], doc: &str) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(n) => Value::DimValue(*n as i64),
                None => Value::DimParam("N".into()),
            }),
            ..Default::default()
        })
        .collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        doc_string: doc.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_scalars_shared() {
        let mut g = Graph::default();
        let a = g.node("fc", "Relu", &["x"], vec![]);
        let b = g.node("fc", "Relu", &[&a], vec![]);
        assert_eq!((a.as_str(), b.as_str()), ("fc/relu", "fc/relu.1"));
        assert_eq!(g.scalar(0.5), g.scalar(0.5));
        assert_ne!(g.scalar(0.5), g.scalar(1.0));
        let (nodes, inits) = g.into_parts();
        assert_eq!((nodes.len(), inits.len()), (2, 2));
        assert_eq!(inits[0].raw_data, 0.5f32.to_le_bytes());
    }

    #[test]
    #[should_panic(expected = "would not be written")]
    fn zero_attributes_are_refused() {
        Attr::int("keepdims", 0);
    }
}
