//! Key/value cache for attention, pre-allocated in steps of 256 positions like mlx-lm's
//! `KVCache`, so decoding writes into a buffer instead of concatenating every token.

use mlx_rs::ops::indexing::{Ellipsis, IndexMutOp, IndexOp};
use mlx_rs::{ops, Array};

use crate::error::Result;

/// What attention needs from a cache.
pub trait KvCache {
    /// Positions already stored (the offset of the next token).
    fn offset(&self) -> usize;

    /// Appends `keys`/`values` (`[B, kv_heads, L, head_dim]`) and returns every stored
    /// key and value, `[B, kv_heads, offset, head_dim]`.
    fn update_and_fetch(&mut self, keys: &Array, values: &Array) -> Result<(Array, Array)>;

    /// Arrays to evaluate to materialise the cache (after a prefill chunk).
    fn state(&self) -> Vec<&Array>;
}

/// The standard cache: grows by [`StepKvCache::STEP`] positions at a time.
#[derive(Debug, Default)]
pub struct StepKvCache {
    keys: Option<Array>,
    values: Option<Array>,
    offset: usize,
}

impl StepKvCache {
    pub const STEP: usize = 256;

    pub fn new() -> Self {
        Self::default()
    }

    /// The stored keys and values, `[B, kv_heads, offset, head_dim]`; `None` when empty.
    pub fn contents(&self) -> Option<(Array, Array)> {
        let (k, v) = (self.keys.as_ref()?, self.values.as_ref()?);
        let end = self.offset as i32;
        Some((
            k.index((Ellipsis, ..end, ..)),
            v.index((Ellipsis, ..end, ..)),
        ))
    }
}

impl KvCache for StepKvCache {
    fn offset(&self) -> usize {
        self.offset
    }

    fn update_and_fetch(&mut self, keys: &Array, values: &Array) -> Result<(Array, Array)> {
        let prev = self.offset;
        let n = keys.dim(2) as usize;
        let capacity = self.keys.as_ref().map_or(0, |k| k.dim(2) as usize);
        if self.keys.is_none() || prev + n > capacity {
            let shape = keys.shape();
            let (b, heads, k_dim) = (shape[0], shape[1], shape[3]);
            let v_dim = values.dim(3);
            let steps = n.div_ceil(Self::STEP);
            let len = (steps * Self::STEP) as i32;
            let new_k = ops::zeros_dtype(&[b, heads, len, k_dim], keys.dtype())?;
            let new_v = ops::zeros_dtype(&[b, heads, len, v_dim], values.dtype())?;
            match (self.keys.take(), self.values.take()) {
                (Some(mut k), Some(mut v)) => {
                    if prev % Self::STEP != 0 {
                        k = k.index((Ellipsis, ..prev as i32, ..));
                        v = v.index((Ellipsis, ..prev as i32, ..));
                    }
                    self.keys = Some(ops::concatenate(&[k, new_k], 2)?);
                    self.values = Some(ops::concatenate(&[v, new_v], 2)?);
                }
                _ => {
                    self.keys = Some(new_k);
                    self.values = Some(new_v);
                }
            }
        }
        self.offset += n;
        let (start, end) = (prev as i32, self.offset as i32);
        let (k, v) = (self.keys.as_mut().unwrap(), self.values.as_mut().unwrap());
        k.index_mut((Ellipsis, start..end, ..), keys);
        v.index_mut((Ellipsis, start..end, ..), values);
        if self.offset < k.dim(2) as usize {
            Ok((
                k.index((Ellipsis, ..end, ..)),
                v.index((Ellipsis, ..end, ..)),
            ))
        } else {
            Ok((k.clone(), v.clone()))
        }
    }

    fn state(&self) -> Vec<&Array> {
        self.keys.iter().chain(self.values.iter()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_in_steps_and_keeps_contents() {
        let _guard = crate::test_lock();
        let mut cache = StepKvCache::new();
        let a = Array::from_iter((0..2 * 3 * 4).map(|x| x as f32), &[1, 2, 3, 4]);
        let (k, _) = cache.update_and_fetch(&a, &a).unwrap();
        assert_eq!(k.shape(), &[1, 2, 3, 4]);
        assert_eq!(cache.keys.as_ref().unwrap().dim(2), 256);
        let big = ops::ones::<f32>(&[1, 2, 300, 4]).unwrap();
        let (k, v) = cache.update_and_fetch(&big, &big).unwrap();
        assert_eq!(k.shape(), &[1, 2, 303, 4]);
        assert_eq!(cache.offset(), 303);
        let first: Vec<f32> = k
            .index((0, 0, 0..3, ..))
            .flatten(None, None)
            .unwrap()
            .as_slice()
            .to_vec();
        assert_eq!(first, (0..12).map(|x| x as f32).collect::<Vec<_>>());
        let s: f32 = v.sum(None).unwrap().item_exact();
        assert_eq!(s, (0..24).sum::<i32>() as f32 + 2400.0);
    }
}
