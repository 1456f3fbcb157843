//! The parallel autoregressive scan order of the LSBV coder.
//!
//! Within a slice, planes are coded from the most significant LSBV plane down to plane 0.
//! Within a plane, pixels are split into four spatial groups (phases) of a 2x2 lattice:
//! phase 0 = (even row, even column), 1 = (odd, odd), 2 = (even, odd), 3 = (odd, even).
//! Phase 1 pixels see their four diagonal neighbours of phase 0 already decoded in this
//! plane; phases 2 and 3 see all four direct neighbours. Each phase is handed to the model
//! in raster-order batches of at most the model's batch size.
//!
//! Invariant: the order is a pure function of the geometry and the batch size.

/// Number of spatial groups per plane.
pub const PHASES: u8 = 4;

/// The phase of pixel `(y, x)`.
#[inline]
pub const fn phase_of(y: usize, x: usize) -> u8 {
    const TABLE: [u8; 4] = [0, 2, 3, 1];
    TABLE[((y & 1) << 1) | (x & 1)]
}

/// Row-major indices of all pixels of `phase` in a `height x width` slice.
pub fn phase_pixels(height: usize, width: usize, phase: u8) -> Vec<u32> {
    let (y0, x0) = match phase {
        0 => (0, 0),
        1 => (1, 1),
        2 => (0, 1),
        _ => (1, 0),
    };
    let mut out = Vec::with_capacity(height.div_ceil(2) * width.div_ceil(2));
    for y in (y0..height).step_by(2) {
        for x in (x0..width).step_by(2) {
            out.push((y * width + x) as u32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_partition_the_slice() {
        let (h, w) = (5, 3);
        let mut seen = vec![0u8; h * w];
        for p in 0..PHASES {
            for i in phase_pixels(h, w, p) {
                let i = i as usize;
                assert_eq!(phase_of(i / w, i % w), p);
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1));
    }
}
