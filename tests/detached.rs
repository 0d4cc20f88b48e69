//! A detached model (what serving and evaluation run) computes exactly what the trainable one
//! does, records no autograd graph, and shares the weights.

use candle_core::{Device, ModuleT, Tensor};
use kindling::data::DatasetName;
use kindling::models::{network, Architecture, ModelConfig, ModelKind};

/// Each kind of model, detached, gives the same logits and records no graph: nothing of its
/// forward pass outlives the output's use. The original records one (its weights are
/// trainable variables), and a training step on it is seen by the detached copy.
#[test]
fn a_detached_model_computes_the_same_and_records_no_graph() {
    let dev = Device::Cpu;
    let shape = [3, 32, 32];
    let mut configs: Vec<ModelConfig> = [ModelKind::Linear, ModelKind::Mlp, ModelKind::Cnn]
        .into_iter()
        .map(|k| {
            let mut a = kindling::presets::defaults::architecture(DatasetName::Cifar10, k);
            match &mut a {
                Architecture::Mlp(l) => l.batch_norm = true,
                Architecture::Cnn(l) => l.batch_norm = true,
                Architecture::Linear => {}
            }
            a.config(shape, 10)
        })
        .collect();
    configs.push(kindling::presets::airbench94::network().config(shape, 10));
    let xs = Tensor::randn(0f32, 1., (2, 3, 32, 32), &dev).unwrap();
    for cfg in configs {
        let net = network::Network::new(&cfg, 1, &dev).unwrap();
        if let Some(w) = net.params.get("whiten.weight") {
            // Placeholder zeros until fitted to data: the network's output would be too.
            w.set(&w.as_tensor().randn_like(0.0, 1.0).unwrap()).unwrap();
        }
        let frozen = net.model.detached();
        let a = net.model.forward_t(&xs, false).unwrap();
        let b = frozen.forward_t(&xs, false).unwrap();
        assert!(a.track_op(), "{:?}: the trainable model records its graph", cfg.kind());
        assert!(!b.track_op(), "{:?}: the detached one records none", cfg.kind());
        let diff = (a - &b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert_eq!(diff, 0.0, "{:?}", cfg.kind());
        // Shared storage: a change to the trainable weights shows in the detached model.
        let (_, var) = net.params.named_vars().into_iter().find(|(n, _)| n.ends_with("weight")).unwrap();
        var.set(&var.as_tensor().zeros_like().unwrap()).unwrap();
        let c = frozen.forward_t(&xs, false).unwrap();
        let moved = (b - c).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(moved > 0.0, "{:?}: the detached model shares the weights", cfg.kind());
    }
}
