//! A random phase-retrieval instance for one `(experiment, trial)`: the measurement matrix
//! `A` (stream `Measurements`), the truth `x0 ~ N(0, I_k)` unless given (stream `Truth`), the
//! amplitudes `b = |A G(x0)|`, optionally with noise at a given SNR (stream `Noise`), and
//! the solver starts `x_r ~ N(0, I_k)` (stream `Restart(r)`). Keyed this way, a trial's
//! instance never depends on which thread or shard builds it.

use faer::Mat;

use super::Method;
use crate::core::measure::{MeasurementScale, Measurements};
use crate::core::network::Network;
use crate::core::objective::Problem;
use crate::rng::{Stream, standard_normal_vector, stream};

/// Where an instance's random numbers come from.
#[derive(Clone, Copy, Debug)]
pub struct InstanceKey<'a> {
    /// Master seed.
    pub seed: u64,
    /// Experiment name of the streams.
    pub experiment: &'a str,
    /// Trial index.
    pub trial: u64,
}

impl InstanceKey<'_> {
    /// The stream of one random object of this instance.
    pub fn stream(&self, which: Stream) -> rand_chacha::ChaCha20Rng {
        stream(self.seed, self.experiment, self.trial, which)
    }
}

/// A problem together with its truth.
#[derive(Clone, Debug)]
pub struct Instance {
    /// Network, `A` and `b`.
    pub problem: Problem,
    /// The true latent code.
    pub x0: Vec<f64>,
}

/// Draws `A` (m rows) and `x0` (unless given) for `net`, and the amplitudes (noisy when
/// `snr_db` is given).
pub fn draw(
    net: Network,
    m: usize,
    scale: MeasurementScale,
    x0: Option<Vec<f64>>,
    snr_db: Option<f64>,
    key: &InstanceKey<'_>,
) -> Instance {
    let meas = Measurements::gaussian(m, net.output_dim(), scale, &mut key.stream(Stream::Measurements));
    let x0 = x0.unwrap_or_else(|| standard_normal_vector(&mut key.stream(Stream::Truth), net.latent_dim()));
    let y0 = net.generate(&x0);
    let b = match snr_db {
        Some(snr) => meas.noisy_amplitudes(&y0, snr, &mut key.stream(Stream::Noise)),
        None => meas.amplitudes(&y0),
    };
    Instance {
        problem: Problem { net, meas, b },
        x0,
    }
}

/// The starts of a solve of `method` with `restarts` restarts (see [`super::starts`]).
pub fn starts(method: Method, k: usize, restarts: usize, key: &InstanceKey<'_>) -> Mat<f64> {
    super::starts(method, k, restarts, |r| key.stream(Stream::Restart(r)))
}
