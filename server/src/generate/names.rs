//! Embedded name and place tables for people and organizations.

/// Given names for the `female` administrative gender.
pub const FEMALE_GIVEN: [&str; 24] = [
    "Mary",
    "Patricia",
    "Jennifer",
    "Linda",
    "Elizabeth",
    "Barbara",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Nancy",
    "Lisa",
    "Margaret",
    "Sandra",
    "Ashley",
    "Emily",
    "Michelle",
    "Amanda",
    "Olivia",
    "Emma",
    "Sophia",
    "Isabella",
    "Mia",
    "Grace",
];

/// Given names for the `male` administrative gender.
pub const MALE_GIVEN: [&str; 24] = [
    "James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas",
    "Charles", "Daniel", "Matthew", "Anthony", "Mark", "Steven", "Paul", "Andrew", "Joshua",
    "Kevin", "Brian", "Liam", "Noah", "Ethan", "Lucas",
];

/// Family names.
pub const FAMILY: [&str; 32] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Nguyen",
];

/// Street names.
pub const STREETS: [&str; 12] = [
    "Main Street",
    "Oak Avenue",
    "Maple Drive",
    "Cedar Lane",
    "Pine Street",
    "Elm Street",
    "Washington Avenue",
    "Lake Road",
    "Hill Street",
    "Park Avenue",
    "River Road",
    "Church Street",
];

/// A city with its state and the first three digits of its postal codes.
#[derive(Debug, Clone, Copy)]
pub struct City {
    /// The city name.
    pub name: &'static str,
    /// The two-letter state code.
    pub state: &'static str,
    /// Postal code prefix (three digits).
    pub zip: &'static str,
}

const fn city(name: &'static str, state: &'static str, zip: &'static str) -> City {
    City { name, state, zip }
}

/// Cities.
pub const CITIES: [City; 12] = [
    city("Springfield", "MA", "011"),
    city("Worcester", "MA", "016"),
    city("Boston", "MA", "021"),
    city("Lowell", "MA", "018"),
    city("Cambridge", "MA", "021"),
    city("Providence", "RI", "029"),
    city("Hartford", "CT", "061"),
    city("New Haven", "CT", "065"),
    city("Burlington", "VT", "054"),
    city("Portland", "ME", "041"),
    city("Manchester", "NH", "031"),
    city("Albany", "NY", "122"),
];

/// Endings of provider organizations' names.
pub const PROVIDER_KINDS: [&str; 6] = [
    "General Hospital",
    "Medical Center",
    "Family Practice",
    "Community Health Center",
    "Primary Care Associates",
    "Urgent Care",
];

/// Insurers: the first organizations of the pool, with the share of charges they pay (percent).
pub const PAYERS: [(&str, i64); 3] = [
    ("Medicare", 80),
    ("Medicaid", 90),
    ("Hearth Mutual Health Insurance", 75),
];
