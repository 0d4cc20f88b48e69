//! The command line's names for the library's enums: each core enum keeps its own names
//! (`as_str`, serde) and knows nothing of `clap`; this file tells `clap` which values a flag
//! accepts and what each means in `--help`.

use crate::app::visualize::What;
use crate::checkpoint::Freeze;
use crate::data::image::ResizePolicy;
use crate::data::{toy2d::Toy, DatasetName, Split};
use crate::features::FeatureKind;
use crate::loss::{LossKind, RegKind};
use crate::models::{knn::Distance, ModelKind, Pool};
use crate::optim::OptimizerKind;
use crate::presets::Recipe;
use crate::support::bench::BenchModel;
use crate::tta::Tta;
use clap::builder::PossibleValue;

/// `impl clap::ValueEnum` for an enum from its variants, command-line names and help lines.
macro_rules! choices {
    ($ty:ty { $($variant:path => $name:literal : $help:literal),+ $(,)? }) => {
        impl clap::ValueEnum for $ty {
            fn value_variants<'a>() -> &'a [Self] {
                &[$($variant),+]
            }
            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(match self {
                    $($variant => PossibleValue::new($name).help($help)),+
                })
            }
        }
    };
}

choices!(DatasetName {
    DatasetName::Shapes => "shapes": "generated offline: 10 classes of 32x32 RGB shapes",
    DatasetName::Cifar10 => "cifar10": "CIFAR-10, 32x32 RGB, 10 classes",
    DatasetName::Mnist => "mnist": "MNIST digits, 28x28 grayscale",
    DatasetName::FashionMnist => "fashion-mnist": "Fashion-MNIST, 28x28 grayscale",
    DatasetName::Spiral => "spiral": "2-D spiral, 3 classes",
    DatasetName::Circles => "circles": "2-D concentric circles",
    DatasetName::Moons => "moons": "2-D half moons",
    DatasetName::Blobs => "blobs": "2-D Gaussian blobs",
    DatasetName::Folder => "folder": "your own images: one subfolder per class in --data-dir",
});

choices!(ResizePolicy {
    ResizePolicy::Squash => "squash": "the whole image scaled to the size, its aspect ratio not kept",
    ResizePolicy::Crop => "crop": "the largest centred region of the size's shape, scaled",
    ResizePolicy::Pad => "pad": "the whole image scaled to fit, black borders",
});

choices!(Toy {
    Toy::Spiral => "spiral": "CS231n's spiral: 3 interleaved arms",
    Toy::Circles => "circles": "two concentric circles",
    Toy::Moons => "moons": "two interleaving half moons",
    Toy::Blobs => "blobs": "four Gaussian blobs (linearly separable)",
});

choices!(Split {
    Split::Train => "train": "the training images",
    Split::Test => "test": "the official test images",
});

choices!(ModelKind {
    ModelKind::Linear => "linear": "f(x) = Wx + b",
    ModelKind::Mlp => "mlp": "multi-layer perceptron",
    ModelKind::Cnn => "cnn": "convolutional network (VGG-style stages of 3x3 convolutions with batch norm by default)",
});

choices!(Pool {
    Pool::None => "none": "no pooling",
    Pool::Max => "max": "max pool 2x2, stride 2",
    Pool::Avg => "avg": "average pool 2x2, stride 2",
    Pool::Overlap => "overlap": "AlexNet's overlapping max pool 3x3, stride 2",
});

choices!(Distance {
    Distance::L1 => "l1": "Manhattan distance",
    Distance::L2 => "l2": "Euclidean distance",
});

choices!(LossKind {
    LossKind::Softmax => "softmax": "softmax cross-entropy",
    LossKind::Svm => "svm": "multiclass SVM hinge loss",
});

choices!(RegKind {
    RegKind::L2 => "l2": "sum of squared weights",
    RegKind::L1 => "l1": "sum of absolute weights",
});

choices!(OptimizerKind {
    OptimizerKind::Sgd => "sgd": "plain gradient descent",
    OptimizerKind::Momentum => "momentum": "SGD with classical momentum",
    OptimizerKind::Nesterov => "nesterov": "SGD with Nesterov momentum",
    OptimizerKind::Rmsprop => "rmsprop": "RMSProp",
    OptimizerKind::Adam => "adam": "Adam, weight decay as L2 in the gradient",
    OptimizerKind::Adamw => "adamw": "AdamW, decoupled weight decay",
    OptimizerKind::Muon => "muon": "Muon: Nesterov momentum, each weight matrix's update orthogonalized",
});

choices!(FeatureKind {
    FeatureKind::Hog => "hog": "histogram of oriented gradients",
    FeatureKind::Color => "color": "hue histogram (RGB images only)",
});

choices!(Tta {
    Tta::None => "none": "the image as it is",
    Tta::Flip => "flip": "the image and its mirror image: mean of the two softmax distributions",
    Tta::FlipTranslate => "flip-translate": "six views, mirrored and moved by one pixel (airbench94's)",
});

choices!(Recipe {
    Recipe::Airbench94 => "airbench94": "Keller Jordan's CIFAR-10 recipe (arXiv 2404.00498)",
    Recipe::Airbench94Muon => "airbench94-muon": "airbench94's network, 8 epochs, Muon on the filters",
});

choices!(BenchModel {
    BenchModel::Linear => "linear": "linear 3072 -> 10",
    BenchModel::Mlp => "mlp": "MLP 3072-512-10, ReLU",
    BenchModel::Cnn => "cnn": "a plain CNN: 5x5, 5x5, 3x3 convolutions with max pools, fc 256",
    BenchModel::KindlingCnn => "kindling-cnn": "kindling's default CIFAR-10 CNN",
    BenchModel::Airbench94 => "airbench94": "the airbench94 recipe's network and SGD, batch 1,024",
});

choices!(Freeze {
    Freeze::None => "none": "every layer trains, the pretrained ones at --pretrained-lr times the rate",
    Freeze::Features => "features": "only the new last layer trains (a linear probe)",
});

choices!(What {
    What::Templates => "templates": "the linear classifier's rows of W as images",
    What::Filters => "filters": "the CNN's first-layer filters",
    What::Weights => "weights": "the first-layer weights of any model, as images",
    What::Saliency => "saliency": "where the model looks in one image (--image FILE)",
});

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    /// Every command-line name is the enum's own name (`as_str`, serde), so a value typed on the
    /// command line, written in a checkpoint and printed in a report is the same word.
    #[test]
    fn names_match_the_enums_own() {
        for v in ModelKind::value_variants() {
            assert_eq!(v.to_possible_value().unwrap().get_name(), v.as_str());
        }
        for v in DatasetName::value_variants() {
            assert_eq!(v.to_possible_value().unwrap().get_name(), v.as_str());
        }
        for v in Tta::value_variants() {
            assert_eq!(v.to_possible_value().unwrap().get_name(), v.as_str());
        }
        for v in LossKind::value_variants() {
            assert_eq!(v.to_possible_value().unwrap().get_name(), v.as_str());
        }
        for v in OptimizerKind::value_variants() {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json.trim_matches('"'), v.to_possible_value().unwrap().get_name());
        }
        for v in Pool::value_variants() {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json.trim_matches('"'), v.to_possible_value().unwrap().get_name());
        }
        for v in FeatureKind::value_variants() {
            assert_eq!(FeatureKind::parse(v.to_possible_value().unwrap().get_name()), Some(*v));
        }
    }
}
