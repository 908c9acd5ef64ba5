//! People and their archetypes. A person's attributes are an age band and where they work; an
//! archetype is a set of age bands and, from two archetypes on, one kind of work. AgentTorch
//! (Chopra et al., 2024) groups agents by such attributes so that one model call stands for every
//! agent of a group.
//!
//! The population's attributes: ages in [`AGE_BANDS`] with the shares [`AGE_SHARES`] (a town's
//! adults); under 65, half work on site ([`ON_SITE_UNDER_65`]), from 65 a tenth do
//! ([`ON_SITE_FROM_65`]); everyone else works from home or is not in work.
//!
//! The `k` archetypes of [`archetypes`] split the population first by work (from `k` = 2: on-site
//! workers get `⌈k/2⌉` archetypes, the others `⌊k/2⌋`), then each kind of work into that many
//! runs of adjacent age bands, as even as the four bands allow; so every person belongs to
//! exactly one archetype, and `k` = 8 is every age band × work.

use super::epidemic::Work;
use crate::rng::SplitMix64;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// The age bands, as (first age, last age); the last band has no upper end.
pub const AGE_BANDS: [(u8, Option<u8>); 4] = [(18, Some(29)), (30, Some(49)), (50, Some(64)), (65, None)];

/// Each age band's share of the population.
pub const AGE_SHARES: [f64; 4] = [0.20, 0.35, 0.25, 0.20];

/// The share of people under 65 who work on site.
pub const ON_SITE_UNDER_65: f64 = 0.5;

/// The share of people from 65 who work on site.
pub const ON_SITE_FROM_65: f64 = 0.1;

/// The most archetypes [`archetypes`] makes: every age band × work.
pub const MAX_ARCHETYPES: usize = 2 * AGE_BANDS.len();

/// One person's attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Person {
    /// Their age band: an index into [`AGE_BANDS`].
    pub band: usize,
    /// Where they work.
    pub work: Work,
}

impl Person {
    /// A person drawn from the population's attributes (see the module documentation).
    pub(crate) fn draw(rng: &mut SplitMix64) -> Person {
        let mut left = rng.unit();
        let band = AGE_SHARES.iter().position(|share| {
            left -= share;
            left < 0.0
        });
        let band = band.unwrap_or(AGE_BANDS.len() - 1);
        let on_site = if AGE_BANDS[band].0 >= 65 { ON_SITE_FROM_65 } else { ON_SITE_UNDER_65 };
        let work = if rng.chance(on_site) { Work::OnSite } else { Work::Home };
        Person { band, work }
    }
}

/// A group of people the model is asked about as one: adjacent age bands, and one kind of work
/// or any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Archetype {
    /// The age bands it holds: indices into [`AGE_BANDS`].
    pub bands: Range<usize>,
    /// The work of its members; `None` for any.
    pub work: Option<Work>,
}

impl Archetype {
    /// Whether `person` belongs to it.
    pub fn holds(&self, person: &Person) -> bool {
        self.bands.contains(&person.band) && (self.work.is_none() || self.work == Some(person.work))
    }

    /// Its ages in words: `aged 30–49`, `aged 50 and over`.
    fn ages(&self) -> String {
        let first = AGE_BANDS[self.bands.start].0;
        match AGE_BANDS[self.bands.end - 1].1 {
            Some(last) => format!("aged {first}–{last}"),
            None => format!("aged {first} and over"),
        }
    }

    /// A short name for tables: `on-site 30–49`, `home 50+`, `all 18+`.
    pub fn name(&self) -> String {
        let work = self.work.map_or("all", Work::label);
        let first = AGE_BANDS[self.bands.start].0;
        match AGE_BANDS[self.bands.end - 1].1 {
            Some(last) => format!("{work} {first}–{last}"),
            None => format!("{work} {first}+"),
        }
    }

    /// How the model is told who the archetype's members are.
    pub fn describe(&self) -> String {
        match self.work {
            Some(work) => format!("adults {} who {}", self.ages(), work.describe()),
            None => format!("adults {}, whatever their work", self.ages()),
        }
    }
}

/// The `k` archetypes (1 to [`MAX_ARCHETYPES`]) described in the module documentation, or `None`
/// for another `k`.
///
/// ```
/// use agentos_gym::population::archetypes;
/// let names: Vec<String> = archetypes(4).unwrap().iter().map(|a| a.name()).collect();
/// assert_eq!(names, ["on-site 18–49", "on-site 50+", "home 18–49", "home 50+"]);
/// assert_eq!(archetypes(1).unwrap()[0].name(), "all 18+");
/// assert!(archetypes(9).is_none());
/// ```
pub fn archetypes(k: usize) -> Option<Vec<Archetype>> {
    match k {
        1 => Some(vec![Archetype { bands: 0..AGE_BANDS.len(), work: None }]),
        2..=MAX_ARCHETYPES => {
            let on_site = age_runs(k.div_ceil(2)).map(|bands| Archetype { bands, work: Some(Work::OnSite) });
            let home = age_runs(k / 2).map(|bands| Archetype { bands, work: Some(Work::Home) });
            Some(on_site.chain(home).collect())
        }
        _ => None,
    }
}

/// The age bands cut into `runs` runs of adjacent bands, as even as can be (the later runs the
/// longer).
fn age_runs(runs: usize) -> impl Iterator<Item = Range<usize>> {
    let bands = AGE_BANDS.len();
    (0..runs).map(move |i| i * bands / runs..(i + 1) * bands / runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_person_belongs_to_exactly_one_archetype_for_every_k() {
        let people: Vec<Person> =
            AGE_BANDS.iter().enumerate().flat_map(|(band, _)| [Work::OnSite, Work::Home].map(|work| Person { band, work })).collect();
        for k in 1..=MAX_ARCHETYPES {
            let groups = archetypes(k).unwrap();
            assert_eq!(groups.len(), k);
            for person in &people {
                assert_eq!(groups.iter().filter(|a| a.holds(person)).count(), 1, "k = {k}, {person:?}");
            }
        }
        assert!(archetypes(0).is_none() && archetypes(MAX_ARCHETYPES + 1).is_none());
        let three: Vec<String> = archetypes(3).unwrap().iter().map(Archetype::describe).collect();
        assert_eq!(
            three,
            [
                "adults aged 18–49 who work on site (shops, care, transport, factories)",
                "adults aged 50 and over who work on site (shops, care, transport, factories)",
                "adults aged 18 and over who work from home or are not in work",
            ]
        );
    }

    #[test]
    fn drawn_people_follow_the_shares() {
        let mut rng = SplitMix64::new(3);
        let people: Vec<Person> = (0..20_000).map(|_| Person::draw(&mut rng)).collect();
        let share = |f: &dyn Fn(&Person) -> bool| people.iter().filter(|p| f(p)).count() as f64 / people.len() as f64;
        for (band, expected) in AGE_SHARES.iter().enumerate() {
            assert!((share(&|p| p.band == band) - expected).abs() < 0.02, "band {band}");
        }
        let on_site_old = share(&|p| p.band == 3 && p.work == Work::OnSite) / share(&|p| p.band == 3);
        assert!((on_site_old - ON_SITE_FROM_65).abs() < 0.02, "{on_site_old}");
    }
}
