//! The parallel autoregressive scan order of the LSBV coder.
//!
//! Within a slice, pixels are split into four spatial groups (phases) of a 2x2 lattice:
//! phase 0 = (even row, even column), 1 = (odd, odd), 2 = (even, odd), 3 = (odd, even).
//! A slice is coded in (plane, phase) steps, planes from the most significant LSBV plane
//! down to plane 0, in the model's [`ScanOrder`]: plane-major (phase 1 pixels see their
//! four diagonal neighbours of phase 0 decoded to the current plane, phases 2 and 3 all
//! four direct neighbours) or phase-major (earlier phases fully decoded). Each step is
//! handed to the model in raster-order batches of at most the model's batch size.
//!
//! Invariant: the order is a pure function of the geometry and the batch size.

/// Number of spatial groups per plane.
pub const PHASES: u8 = 4;

/// The order of the (plane, phase) steps of a slice; a property of the model (its id
/// fixes it, so the container needs no field for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ScanOrder {
    /// Plane `d-1` down to 0, each plane phase 0 to 3: when a pixel's plane is coded its
    /// neighbours are known to that plane (the built-in model's order).
    #[default]
    PlaneMajor,
    /// Phase 0 to 3, each phase plane `d-1` down to 0: pixels of earlier phases are fully
    /// decoded when a phase starts, so phases 1-3 see full-precision neighbours.
    PhaseMajor,
}

impl ScanOrder {
    /// The `(plane, phase)` steps of one slice with `d` LSBV planes, in coding order.
    pub fn steps(self, d: u8) -> Vec<(u8, u8)> {
        let mut out = Vec::with_capacity(d as usize * PHASES as usize);
        match self {
            ScanOrder::PlaneMajor => {
                for b in (0..d).rev() {
                    for p in 0..PHASES {
                        out.push((b, p));
                    }
                }
            }
            ScanOrder::PhaseMajor => {
                for p in 0..PHASES {
                    for b in (0..d).rev() {
                        out.push((b, p));
                    }
                }
            }
        }
        out
    }

    /// How many low bits of a pixel of phase `other` are still unknown when plane `b` of
    /// phase `phase` starts (`d` LSBV planes).
    #[inline]
    pub fn unknown_bits(self, phase: u8, other: u8, b: u8, d: u8) -> u32 {
        match self {
            ScanOrder::PlaneMajor => b as u32 + (other >= phase) as u32,
            ScanOrder::PhaseMajor => match other.cmp(&phase) {
                std::cmp::Ordering::Less => 0,
                std::cmp::Ordering::Equal => b as u32 + 1,
                std::cmp::Ordering::Greater => d as u32,
            },
        }
    }
}

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
