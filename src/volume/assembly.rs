//! Series-to-volume assembly: which instances of a series form a volume, and
//! in which slice order.
//!
//! Instances are grouped by geometry (Rows, Columns, Bits Allocated, Bits
//! Stored, Pixel Representation, Image Orientation (Patient)); within a group
//! they are sorted by position along the slice normal (the cross product of
//! the orientation's row and column directions, PS3.3 C.7.6.2.1.1), then by
//! Instance Number, then by SOP Instance UID: never by arrival or file order.
//! Repeated positions (a 4D series) are split into as many volumes as the
//! largest repeat count, the k-th instance at each position going to the
//! k-th volume.
//!
//! Invariant: every candidate ends in exactly one volume; the order depends
//! only on the attributes, so assembling the same instances twice gives the
//! same volumes.

use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Positions closer than this along the normal (mm) are the same slice.
const SAME_POSITION_MM: f64 = 1e-3;

/// An instance that can be a slice of a volume (one frame, one sample per
/// pixel, native 8- or 16-bit pixel data).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The caller's handle (the index row id).
    pub id: i64,
    pub rows: u32,
    pub columns: u32,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub pixel_representation: u16,
    /// Image Orientation (Patient) as received (backslash-separated).
    pub orientation: String,
    /// Image Position (Patient) as received.
    pub position: String,
    /// Instance Number as received.
    pub instance_number: String,
    pub sop_instance_uid: String,
}

/// Geometry shared by the slices of one volume.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct GeometryKey {
    rows: u32,
    columns: u32,
    bits_allocated: u16,
    bits_stored: u16,
    pixel_representation: u16,
    orientation: String,
}

/// Parses a backslash-separated decimal string (DS) into numbers.
pub fn decimals(text: &str) -> Option<Vec<f64>> {
    text.split('\\')
        .map(|v| v.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
        .collect()
}

/// Position of a slice along the normal of its orientation.
pub fn normal_position(orientation: &[f64], position: &[f64]) -> Option<f64> {
    let ([r0, r1, r2, c0, c1, c2], [x, y, z]) = (orientation, position) else {
        return None;
    };
    let normal = [r1 * c2 - r2 * c1, r2 * c0 - r0 * c2, r0 * c1 - r1 * c0];
    Some(normal[0] * x + normal[1] * y + normal[2] * z)
}

/// The slice order: position along the normal, then Instance Number, then
/// SOP Instance UID. Missing values sort after present ones.
pub fn compare_slices(
    a: (Option<f64>, Option<i64>, &str),
    b: (Option<f64>, Option<i64>, &str),
) -> Ordering {
    let by_position = match (a.0, b.0) {
        (Some(x), Some(y)) if (x - y).abs() >= SAME_POSITION_MM => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        _ => Ordering::Equal,
    };
    by_position
        .then_with(|| match (a.1, b.1) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
        .then_with(|| a.2.cmp(b.2))
}

struct Keyed {
    id: i64,
    position: Option<f64>,
    number: Option<i64>,
    uid: String,
}

impl Keyed {
    fn key(&self) -> (Option<f64>, Option<i64>, &str) {
        (self.position, self.number, &self.uid)
    }
}

/// Groups candidates into volumes, each a list of ids in slice order. The
/// volumes come in a deterministic order (by geometry, then first slice).
pub fn assemble(candidates: &[Candidate]) -> Vec<Vec<i64>> {
    let mut groups: BTreeMap<GeometryKey, Vec<Keyed>> = BTreeMap::new();
    for c in candidates {
        let orientation = decimals(&c.orientation);
        let position = decimals(&c.position);
        let along = match (&orientation, &position) {
            (Some(o), Some(p)) => normal_position(o, p),
            _ => None,
        };
        let key = GeometryKey {
            rows: c.rows,
            columns: c.columns,
            bits_allocated: c.bits_allocated,
            bits_stored: c.bits_stored,
            pixel_representation: c.pixel_representation,
            orientation: normalise_orientation(orientation.as_deref()),
        };
        groups.entry(key).or_default().push(Keyed {
            id: c.id,
            position: along,
            number: c.instance_number.trim().parse().ok(),
            uid: c.sop_instance_uid.clone(),
        });
    }
    groups.into_values().flat_map(split_repeats).collect()
}

/// Orientation rounded so that tiny printing differences do not split a
/// series.
fn normalise_orientation(orientation: Option<&[f64]>) -> String {
    orientation.map_or_else(String::new, |o| {
        o.iter()
            .map(|v| format!("{:.4}", v + 0.0))
            .collect::<Vec<_>>()
            .join("\\")
    })
}

/// Sorts one geometry group and splits repeated positions into volumes.
fn split_repeats(mut slices: Vec<Keyed>) -> Vec<Vec<i64>> {
    slices.sort_by(|a, b| compare_slices(a.key(), b.key()));
    let mut volumes: Vec<Vec<i64>> = Vec::new();
    let mut start = 0;
    while start < slices.len() {
        let end = same_position_end(&slices, start);
        for (k, slice) in slices[start..end].iter().enumerate() {
            if volumes.len() <= k {
                volumes.push(Vec::new());
            }
            volumes[k].push(slice.id);
        }
        start = end;
    }
    volumes
}

/// End of the run of slices sharing the position of `slices[start]`; a
/// slice without a position is a run of its own.
fn same_position_end(slices: &[Keyed], start: usize) -> usize {
    let Some(here) = slices[start].position else {
        return start + 1;
    };
    slices[start..]
        .iter()
        .position(|s| {
            s.position
                .is_none_or(|p| (p - here).abs() >= SAME_POSITION_MM)
        })
        .map_or(slices.len(), |n| start + n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axial(id: i64, z: f64, number: i64) -> Candidate {
        Candidate {
            id,
            rows: 4,
            columns: 4,
            bits_allocated: 16,
            bits_stored: 12,
            pixel_representation: 0,
            orientation: "1\\0\\0\\0\\1\\0".into(),
            position: format!("-100\\-100\\{z}"),
            instance_number: number.to_string(),
            sop_instance_uid: format!("1.2.3.{id}"),
        }
    }

    #[test]
    fn sorted_by_position_not_by_arrival_or_number() {
        // Instance numbers run against the positions.
        let c = vec![axial(1, 10.0, 1), axial(2, -5.0, 2), axial(3, 2.5, 3)];
        assert_eq!(assemble(&c), vec![vec![2, 3, 1]]);
    }

    #[test]
    fn a_reversed_normal_reverses_the_order() {
        let mut c = vec![axial(1, 1.0, 1), axial(2, 2.0, 2)];
        for s in &mut c {
            s.orientation = "1\\0\\0\\0\\-1\\0".into();
        }
        assert_eq!(assemble(&c), vec![vec![2, 1]]);
    }

    #[test]
    fn repeated_positions_split_into_volumes_by_instance_number() {
        let c = vec![
            axial(1, 0.0, 1),
            axial(2, 1.0, 2),
            axial(3, 0.0, 3),
            axial(4, 1.0, 4),
        ];
        assert_eq!(assemble(&c), vec![vec![1, 2], vec![3, 4]]);
    }

    #[test]
    fn mixed_sizes_and_orientations_are_separate_volumes() {
        let mut small = axial(3, 0.0, 3);
        small.rows = 2;
        let mut sagittal = axial(4, 0.0, 4);
        sagittal.orientation = "0\\1\\0\\0\\0\\-1".into();
        let c = vec![axial(1, 0.0, 1), axial(2, 1.0, 2), small, sagittal];
        let mut volumes = assemble(&c);
        volumes.sort();
        assert_eq!(volumes, vec![vec![1, 2], vec![3], vec![4]]);
    }

    #[test]
    fn without_positions_instance_number_then_uid_decide() {
        let mut c = vec![axial(1, 0.0, 2), axial(2, 0.0, 1), axial(3, 0.0, 1)];
        for s in &mut c {
            s.position.clear();
        }
        assert_eq!(assemble(&c), vec![vec![2, 3, 1]]);
    }

    #[test]
    fn rounding_noise_in_orientation_does_not_split() {
        let mut b = axial(2, 1.0, 2);
        b.orientation = "1.0000001\\0\\0\\0\\0.99999999\\0".into();
        assert_eq!(assemble(&[axial(1, 0.0, 1), b]), vec![vec![1, 2]]);
    }
}
