//! kindling's own ops (temporary: candle's, until the fast CPU kernels land).

use candle_core::{Result, Tensor};

/// 2-D convolution with bias.
pub fn conv2d(x: &Tensor, w: &Tensor, b: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    x.conv2d(w, padding, stride, 1, 1)?.broadcast_add(&b.reshape((1, (), 1, 1))?)
}

/// Max pooling.
pub fn max_pool2d(x: &Tensor, kernel: usize, stride: usize) -> Result<Tensor> {
    x.max_pool2d_with_stride(kernel, stride)
}
