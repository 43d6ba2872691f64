use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The time and identity an output is stamped with.
///
/// With a seed, every identifier is derived from it, so the same input and
/// options give byte-identical files; [`BuildStamp::from_env`] takes both time
/// and seed from `SOURCE_DATE_EPOCH` when it is set, as reproducible-build
/// tooling expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildStamp {
    unix_time: u64,
    /// What identifiers are derived from: given, or drawn at random once,
    /// so that one stamp names one thing the same way every time it is asked.
    seed: Vec<u8>,
    reproducible: bool,
}

impl BuildStamp {
    /// `SOURCE_DATE_EPOCH` (time and seed) when set and valid, else the
    /// current time with random identifiers.
    pub fn from_env() -> Self {
        match std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            Some(t) => BuildStamp::fixed(t, format!("SOURCE_DATE_EPOCH={t}")),
            None => BuildStamp {
                unix_time: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
                seed: Uuid::new_v4().as_bytes().to_vec(),
                reproducible: false,
            },
        }
    }

    /// A fixed time (seconds since 1970) and identifier seed.
    pub fn fixed(unix_time: u64, seed: impl AsRef<[u8]>) -> Self {
        BuildStamp {
            unix_time,
            seed: seed.as_ref().to_vec(),
            reproducible: true,
        }
    }

    /// The same stamp with `more` mixed into the seed (an input's name, a
    /// user's `--seed`).
    pub fn mixed_with(&self, more: impl AsRef<[u8]>) -> Self {
        let mut seed = self.seed.clone();
        seed.push(0);
        seed.extend_from_slice(more.as_ref());
        BuildStamp {
            unix_time: self.unix_time,
            seed,
            reproducible: self.reproducible,
        }
    }

    /// Seconds since 1970-01-01 UTC.
    pub fn unix_time(&self) -> u64 {
        self.unix_time
    }

    /// Whether identifiers are derived rather than random.
    pub fn is_reproducible(&self) -> bool {
        self.reproducible
    }

    /// An identifier for `purpose` ("vhd unique id", "gpt disk guid", …),
    /// derived from the seed: the same for the same purpose from one stamp
    /// (a footer and its copy agree), different from stamp to stamp unless
    /// the stamp is reproducible.
    pub fn uuid(&self, purpose: &str) -> Uuid {
        let mut h = Sha256::new();
        h.update(&self.seed);
        h.update([0]);
        h.update(purpose.as_bytes());
        let digest = h.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// The civil date (year, month, day) of `days` since 1970-01-01, in the
/// proleptic Gregorian calendar (Howard Hinnant's `civil_from_days`): what
/// the formats that store a calendar date (ISO 9660, FAT) write.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_ids_are_stable_and_distinct() {
        let a = BuildStamp::fixed(5, "x");
        assert_eq!(a.uuid("disk"), BuildStamp::fixed(5, "x").uuid("disk"));
        assert_ne!(a.uuid("disk"), a.uuid("part 1"));
        assert_ne!(a.uuid("disk"), a.mixed_with("in.img").uuid("disk"));
        assert_eq!(a.uuid("disk").get_version_num(), 4);
    }

    #[test]
    fn unseeded_ids_are_stable_per_stamp_only() {
        std::env::remove_var("SOURCE_DATE_EPOCH");
        let (a, b) = (BuildStamp::from_env(), BuildStamp::from_env());
        assert!(!a.is_reproducible());
        // A footer and its copy, asked for one after the other, agree.
        assert_eq!(a.uuid("vhd unique id"), a.clone().uuid("vhd unique id"));
        assert_ne!(a.uuid("vhd unique id"), b.uuid("vhd unique id"));
        assert_ne!(a.uuid("disk"), a.mixed_with("in.img").uuid("disk"));
    }
}
