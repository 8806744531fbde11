//! Interleaves the tile steps of independent GEMMs (BP and WU of a layer) so that the DMA of
//! one overlaps the compute of the other.

/// Merges lists of `(steps, estimated cycles)` into one order of `(list, step)` pairs: each
/// next step comes from the list that is least far along in modelled time, so all lists
/// progress at the same rate and finish together.
pub fn interleave(lists: &[(usize, u64)]) -> Vec<(usize, usize)> {
    let mut next = vec![0usize; lists.len()];
    let total: usize = lists.iter().map(|(n, _)| n).sum();
    let mut order = Vec::with_capacity(total);
    while order.len() < total {
        // Modelled time at which list l's next step would end, taking its steps as equal.
        let l = (0..lists.len())
            .filter(|&l| next[l] < lists[l].0)
            .min_by_key(|&l| {
                let (n, est) = lists[l];
                (
                    (next[l] as u128 + 1) * est.max(1) as u128 * 1_000_000 / n as u128,
                    l,
                )
            })
            .expect("some list has steps left");
        order.push((l, next[l]));
        next[l] += 1;
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_progress_together_and_every_step_appears_once_in_order() {
        let order = interleave(&[(2, 100), (6, 100)]);
        assert_eq!(
            order,
            vec![
                (1, 0),
                (1, 1),
                (0, 0),
                (1, 2),
                (1, 3),
                (1, 4),
                (0, 1),
                (1, 5)
            ]
        );
        let order = interleave(&[(3, 1), (0, 1), (1, 1)]);
        assert_eq!(order.len(), 4);
    }
}
