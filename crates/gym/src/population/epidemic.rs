//! The epidemic a [`Population`](super::Population) lives through: a discrete-time SEIR model
//! (susceptible, exposed, infectious, recovered), one step a day, after the disease model of
//! AgentTorch's COVID-19 case study (Chopra et al., 2024, "On the limits of agency in agent-based
//! models"), cut down to what a behaviour (isolating at home) changes.
//!
//! The rules, applied to every person in the order of the population, each day:
//!
//! 1. **Contacts.** A person meets [`CONTACTS_ON_SITE`] people a day if they work on site,
//!    [`CONTACTS_AT_HOME`] if they work from home or do not work, and [`CONTACTS_ISOLATING`]
//!    (their household) on a day they isolate, whatever their work.
//! 2. **Mixing.** Contacts are proportionate: each contact is with someone drawn from the whole
//!    population in proportion to how many contacts they make, so the chance that one contact is
//!    infectious is the infectious people's share of all contacts made that day
//!    ([`infectious_share`]). An infectious person who isolates spreads less, as one who is
//!    susceptible catches less.
//! 3. **Transmission.** Each contact with an infectious person infects with probability
//!    [`TRANSMISSION`], independently, so a susceptible person with `c` contacts is infected with
//!    probability `1 − (1 − TRANSMISSION × share)^c` ([`infection_probability`]), drawn once.
//! 4. **Course.** A person infected during a day is exposed (infected, not yet infectious) for the
//!    next [`LATENT_DAYS`] days, then infectious for [`INFECTIOUS_DAYS`] days, then recovered and
//!    immune for the rest of the simulation ([`Health::next_day`]). Nobody dies, is born or moves.
//! 5. **Start.** On day 0, [`INITIAL_INFECTIOUS`] of the population (at least one person), drawn
//!    at random, has just become infectious; everyone else is susceptible.
//!
//! With these constants and nobody isolating, one infectious person infects about 2.4 others
//! (`TRANSMISSION × INFECTIOUS_DAYS × E[c²]/E[c]` over the population's mix of work).

use crate::rng::SplitMix64;
use serde::{Deserialize, Serialize};

/// Contacts a day of a person who works on site (shops, care, transport, factories).
pub const CONTACTS_ON_SITE: u32 = 12;

/// Contacts a day of a person who works from home or does not work.
pub const CONTACTS_AT_HOME: u32 = 5;

/// Contacts a day of a person who isolates at home (their household), whatever their work.
pub const CONTACTS_ISOLATING: u32 = 2;

/// The probability that one contact with an infectious person infects a susceptible one.
pub const TRANSMISSION: f64 = 0.05;

/// Days a person infected stays exposed (infected, not yet infectious).
pub const LATENT_DAYS: u32 = 2;

/// Days a person stays infectious before recovering (the recovery time).
pub const INFECTIOUS_DAYS: u32 = 5;

/// The share of the population infectious on day 0 (at least one person).
pub const INITIAL_INFECTIOUS: f64 = 0.01;

/// Where a person works, which sets how many people they meet on a day they do not isolate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Work {
    /// At a workplace among others: shops, care, transport, factories.
    OnSite,
    /// From home, or not in work.
    Home,
}

impl Work {
    /// How the model is told about this work.
    pub fn describe(self) -> &'static str {
        match self {
            Work::OnSite => "work on site (shops, care, transport, factories)",
            Work::Home => "work from home or are not in work",
        }
    }

    /// A short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Work::OnSite => "on-site",
            Work::Home => "home",
        }
    }
}

/// Contacts a day of a person with `work` (rule 1).
pub fn contacts(work: Work, isolating: bool) -> u32 {
    match (isolating, work) {
        (true, _) => CONTACTS_ISOLATING,
        (false, Work::OnSite) => CONTACTS_ON_SITE,
        (false, Work::Home) => CONTACTS_AT_HOME,
    }
}

/// Where one person stands in the disease's course.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Never infected: can catch it.
    Susceptible,
    /// Infected `days` days ago (0 on the day after the infection), not yet infectious.
    Exposed {
        /// Whole days spent exposed so far.
        days: u32,
    },
    /// Infectious for `days` days so far.
    Infectious {
        /// Whole days spent infectious so far.
        days: u32,
    },
    /// Recovered and immune.
    Recovered,
}

impl Health {
    /// The state after one more day of the course (rule 4); a susceptible person stays so
    /// (infections are drawn apart, [`infection_probability`]).
    pub fn next_day(self) -> Health {
        match self {
            Health::Exposed { days } if days + 1 >= LATENT_DAYS => Health::Infectious { days: 0 },
            Health::Exposed { days } => Health::Exposed { days: days + 1 },
            Health::Infectious { days } if days + 1 >= INFECTIOUS_DAYS => Health::Recovered,
            Health::Infectious { days } => Health::Infectious { days: days + 1 },
            other => other,
        }
    }

    /// Whether this person can infect others today.
    pub fn infectious(self) -> bool {
        matches!(self, Health::Infectious { .. })
    }
}

/// How many people are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Never infected.
    pub susceptible: usize,
    /// Infected, not yet infectious.
    pub exposed: usize,
    /// Infectious.
    pub infectious: usize,
    /// Recovered and immune.
    pub recovered: usize,
}

impl Counts {
    /// The counts of `health`.
    pub fn of(health: &[Health]) -> Counts {
        let mut counts = Counts::default();
        for h in health {
            match h {
                Health::Susceptible => counts.susceptible += 1,
                Health::Exposed { .. } => counts.exposed += 1,
                Health::Infectious { .. } => counts.infectious += 1,
                Health::Recovered => counts.recovered += 1,
            }
        }
        counts
    }

    /// Everyone counted.
    pub fn total(&self) -> usize {
        self.susceptible + self.exposed + self.infectious + self.recovered
    }
}

/// The chance that one contact is with an infectious person (rule 2): the infectious people's
/// share of all contacts made, given each person's health and contacts; 0 when nobody meets
/// anyone.
pub fn infectious_share(health: &[Health], contacts: &[u32]) -> f64 {
    let all: u64 = contacts.iter().map(|&c| u64::from(c)).sum();
    let infectious: u64 = health.iter().zip(contacts).filter(|(h, _)| h.infectious()).map(|(_, &c)| u64::from(c)).sum();
    if all == 0 {
        0.0
    } else {
        infectious as f64 / all as f64
    }
}

/// The probability that a susceptible person with `contacts` contacts is infected when a share
/// `share` of contacts is infectious (rule 3).
///
/// ```
/// use agentos_gym::population::epidemic::{infection_probability, TRANSMISSION};
/// assert_eq!(infection_probability(0, 0.5), 0.0);
/// assert!((infection_probability(1, 1.0) - TRANSMISSION).abs() < 1e-12);
/// ```
pub fn infection_probability(contacts: u32, share: f64) -> f64 {
    1.0 - (1.0 - TRANSMISSION * share).powi(contacts as i32)
}

/// The state of an outbreak: every person's health.
#[derive(Clone, Debug)]
pub(crate) struct Outbreak {
    health: Vec<Health>,
}

impl Outbreak {
    /// Day 0 among `people` people (rule 5), the first infectious drawn from `rng`.
    pub(crate) fn start(people: usize, rng: &mut SplitMix64) -> Outbreak {
        let mut order: Vec<usize> = (0..people).collect();
        let first = ((people as f64 * INITIAL_INFECTIOUS).round() as usize).clamp(1, people.max(1));
        let mut health = vec![Health::Susceptible; people];
        // The first `first` places of a partial Fisher–Yates shuffle.
        for i in 0..first.min(people) {
            let j = i + rng.below((people - i) as u64) as usize;
            order.swap(i, j);
            health[order[i]] = Health::Infectious { days: 0 };
        }
        Outbreak { health }
    }

    /// One day (rules 2 to 4), each person making `contacts[i]` contacts (rule 1); returns how
    /// many were infected. Infections are drawn from `rng`, one draw per susceptible person, in
    /// order.
    pub(crate) fn day(&mut self, contacts: &[u32], rng: &mut SplitMix64) -> usize {
        let share = infectious_share(&self.health, contacts);
        let infected: Vec<bool> = self
            .health
            .iter()
            .zip(contacts)
            .map(|(h, &c)| *h == Health::Susceptible && rng.chance(infection_probability(c, share)))
            .collect();
        for (h, &new) in self.health.iter_mut().zip(&infected) {
            *h = if new { Health::Exposed { days: 0 } } else { h.next_day() };
        }
        infected.iter().filter(|&&new| new).count()
    }

    /// How many are in each state.
    pub(crate) fn counts(&self) -> Counts {
        Counts::of(&self.health)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_course_is_latent_then_infectious_then_immune() {
        let mut h = Health::Exposed { days: 0 };
        let mut course = Vec::new();
        for _ in 0..(LATENT_DAYS + INFECTIOUS_DAYS + 2) {
            course.push(h);
            h = h.next_day();
        }
        let infectious = course.iter().filter(|h| h.infectious()).count();
        let exposed = course.iter().filter(|h| matches!(h, Health::Exposed { .. })).count();
        assert_eq!((exposed, infectious), (LATENT_DAYS as usize, INFECTIOUS_DAYS as usize), "{course:?}");
        assert_eq!(h, Health::Recovered);
        assert_eq!(Health::Susceptible.next_day(), Health::Susceptible);
    }

    #[test]
    fn isolating_cuts_contacts_and_the_share_weighs_by_contacts() {
        assert_eq!((contacts(Work::OnSite, false), contacts(Work::Home, false)), (CONTACTS_ON_SITE, CONTACTS_AT_HOME));
        assert_eq!(contacts(Work::OnSite, true), CONTACTS_ISOLATING);
        let health = [Health::Infectious { days: 0 }, Health::Susceptible, Health::Susceptible];
        assert_eq!(infectious_share(&health, &[2, 4, 4]), 0.2);
        assert_eq!(infectious_share(&health, &[0, 0, 0]), 0.0);
        assert!(infection_probability(12, 0.2) > infection_probability(2, 0.2));
        let counts = Counts::of(&health);
        assert_eq!((counts.susceptible, counts.infectious, counts.total()), (2, 1, 3));
    }

    #[test]
    fn an_outbreak_starts_with_one_percent_infectious_and_spreads_only_by_contact() {
        let mut rng = SplitMix64::new(5);
        let outbreak = Outbreak::start(1000, &mut rng);
        assert_eq!((outbreak.counts().infectious, outbreak.counts().susceptible), (10, 990));
        assert_eq!(Outbreak::start(1, &mut rng).counts().infectious, 1, "at least one person");
        let mut alone = outbreak.clone();
        assert_eq!(alone.day(&[0; 1000], &mut rng), 0, "nobody meets anyone: nobody is infected");
        let mut crowded = outbreak;
        let infected = crowded.day(&[CONTACTS_ON_SITE; 1000], &mut rng);
        assert!(infected > 0, "{infected}");
        let counts = crowded.counts();
        assert_eq!((counts.exposed, counts.infectious, counts.total()), (infected, 10, 1000));
    }
}
