//! kindling's own tensor ops, each with its backward pass, where candle 0.11's are missing or slow
//! on the CPU.
//!
//! - [`conv2d()`]: convolution plus bias as one op; im2col + GEMM across the cores, a backward pass
//!   several times faster than candle's, which skips the input gradient of the first layer and
//!   works for any rectangular image and kernel.
//! - [`batch_norm_train()`] / [`batch_norm_eval()`]: batch normalization as one op, its backward
//!   pass in two sweeps over the data, where candle's `BatchNorm` chains a dozen broadcast ops;
//!   [`batch_norm_act_train()`] / [`batch_norm_act_eval()`] apply the following ReLU or GELU in
//!   the same op, without storing the normalized values.
//! - [`linear()`]: a fully connected layer whose backward pass skips the input gradient of the
//!   first layer, which candle's `matmul` backward always computes.
//! - [`max_pool2d()`]: max pooling that can be differentiated with overlapping windows (AlexNet's
//!   3×3 stride 2), which candle refuses.
//! - [`gelu()`]: the exact GELU with a one-sweep backward pass, where candle's chains a dozen ops.
//! - [`dropout::dropout()`]: dropout whose masks follow the run's seed (candle's CPU dropout draws
//!   from an unseeded generator).
//!
//! Both are candle custom ops: they take and return ordinary [`candle_core::Tensor`]s and join
//! the graph like any other op, so `loss.backward()` reaches through them. Their own kernels run
//! for `f32` on the CPU; on other devices each function says what it falls back to.
//!
//! ```
//! use candle_core::{DType, Device, Tensor, Var};
//! use kindling::ops::{conv2d, max_pool2d};
//! let dev = Device::Cpu;
//! let xs = Tensor::randn(0f32, 1., (4, 3, 32, 32), &dev)?;
//! let w = Var::randn(0f32, 0.05, (16, 3, 5, 5), &dev)?;
//! let b = Var::zeros(16, DType::F32, &dev)?;
//! let ys = max_pool2d(&conv2d(&xs, &w, &b, 1, 2)?.relu()?, 3, 2)?; // [4, 16, 15, 15]
//! assert_eq!(ys.dims(), &[4, 16, 15, 15]);
//! let grads = ys.sum_all()?.backward()?;
//! assert_eq!(grads.get(&w).unwrap().dims(), &[16, 3, 5, 5]);
//! # Ok::<(), candle_core::Error>(())
//! ```

pub mod conv2d;
pub mod dense;
pub mod dropout;
pub mod gelu;
pub mod maxpool;
pub mod norm_act;
pub mod simd;
mod storage;
mod winograd;

pub use conv2d::{conv2d, conv2d_max_pool2, conv2d_no_bias, conv2d_with, Algorithm};
pub use dense::{linear, linear_layer};
pub use gelu::gelu;
pub use maxpool::max_pool2d;
pub use norm_act::{batch_norm_act_eval, batch_norm_act_train, batch_norm_eval, batch_norm_train, NormActivation};
