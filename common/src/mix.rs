//! One 64-bit mixing function both sides compute alike: the kernel program
//! and the controller must reach the same number from the same bytes.
//!
//! Used for the address-list check (an order-independent sum of one mix per
//! address, so the kernel compares a list of any length in one pass without
//! storing it) and for the advert-state integrity stamp (a reader never acts
//! on a record that two CPUs wrote at once, or that it read half-written).

/// splitmix64's finaliser: every input bit changes about half the output bits.
#[inline(always)]
pub const fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The mix of one address as the maps hold it (IPv4 in the first 4 bytes,
/// the rest zero), under `key`: a random key per instance, so nobody can
/// work out an address list that sums like the configured one without being
/// it (`mix64` alone can be inverted).
#[inline(always)]
pub fn addr_mix(addr: &[u8; 16], key: u64) -> u64 {
    let lo = u64::from_le_bytes([
        addr[0], addr[1], addr[2], addr[3], addr[4], addr[5], addr[6], addr[7],
    ]);
    let hi = u64::from_le_bytes([
        addr[8], addr[9], addr[10], addr[11], addr[12], addr[13], addr[14], addr[15],
    ]);
    let h = mix64(lo ^ key);
    mix64(h ^ hi ^ key.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_independent_sum_tells_lists_apart() {
        let a = addr_mix(&[192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 7);
        let b = addr_mix(&[192, 0, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 7);
        let c = addr_mix(&[192, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 7);
        let d = addr_mix(&[192, 0, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 7);
        assert_eq!(a.wrapping_add(b), b.wrapping_add(a));
        // A plain ones'-complement sum would take {.1, .4} for {.2, .3}.
        assert_ne!(a.wrapping_add(b), c.wrapping_add(d));
        assert_ne!(a.wrapping_add(a), a.wrapping_add(b));
        let ip = [192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_ne!(addr_mix(&ip, 7), addr_mix(&ip, 8), "the key changes the mix");
    }
}
