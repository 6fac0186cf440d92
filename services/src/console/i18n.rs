//! The console's words in Danish and English: one table each, chosen per request by the
//! `brobyg_lang` cookie, else the browser's `Accept-Language`, else Danish.

/// A language the console speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// Dansk.
    Da,
    /// English.
    En,
}

impl Lang {
    /// The language a cookie value or an `Accept-Language` header asks for.
    #[must_use]
    pub fn choose(cookie: Option<&str>, accept_language: Option<&str>) -> Self {
        match cookie {
            Some("en") => return Self::En,
            Some("da") => return Self::Da,
            _ => {}
        }
        let first = accept_language.and_then(|h| h.split(',').next()).map(str::trim).unwrap_or("");
        if first.starts_with("en") { Self::En } else { Self::Da }
    }

    /// The BCP 47 code, for `<html lang>`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Da => "da",
            Self::En => "en",
        }
    }

    /// The other language, offered by the switch on every page.
    #[must_use]
    pub fn other(self) -> Self {
        match self {
            Self::Da => Self::En,
            Self::En => Self::Da,
        }
    }

    /// The words.
    #[must_use]
    pub fn words(self) -> &'static Words {
        match self {
            Self::Da => &DA,
            Self::En => &EN,
        }
    }
}

/// Every label the console shows.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct Words {
    pub language_name: &'static str,
    pub switch_to: &'static str,
    pub skip: &'static str,
    pub console: &'static str,
    pub dev_banner: &'static str,
    pub sign_in: &'static str,
    pub sign_in_with: &'static str,
    pub sign_out: &'static str,
    pub signed_in_as: &'static str,
    pub organisation: &'static str,
    pub role: &'static str,
    pub user: &'static str,
    pub no_sign_in: &'static str,
    pub home: &'static str,
    pub find_case: &'static str,
    pub case_id: &'static str,
    pub show: &'static str,
    pub caseload: &'static str,
    pub waiting_list: &'static str,
    pub days_waiting: &'static str,
    pub name: &'static str,
    pub age: &'static str,
    pub state: &'static str,
    pub next_deadline: &'static str,
    pub waits_for: &'static str,
    pub programme: &'static str,
    pub eligible_volunteers: &'static str,
    pub blockers: &'static str,
    pub timeline: &'static str,
    pub sequence: &'static str,
    pub time: &'static str,
    pub event: &'static str,
    pub actor: &'static str,
    pub checkpoint: &'static str,
    pub basis: &'static str,
    pub moment: &'static str,
    pub seen_by: &'static str,
    pub as_auditor: &'static str,
    pub as_it_stood: &'static str,
    pub case_now: &'static str,
    pub items: &'static str,
    pub category: &'static str,
    pub owner: &'static str,
    pub content: &'static str,
    pub consents: &'static str,
    pub disclosures: &'static str,
    pub disclosed: &'static str,
    pub recipients: &'static str,
    pub concerns: &'static str,
    pub reported: &'static str,
    pub assessment_due: &'static str,
    pub receipt_due: &'static str,
    pub working_days: &'static str,
    pub acknowledged: &'static str,
    pub on_time: &'static str,
    pub late: &'static str,
    pub overdue: &'static str,
    pub pending: &'static str,
    pub new: &'static str,
    pub changed: &'static str,
    pub gone: &'static str,
    pub nothing_visible: &'static str,
    pub redacted: &'static str,
    pub verification: &'static str,
    pub verify_now: &'static str,
    pub verified_ok: &'static str,
    pub verified_bad: &'static str,
    pub latest_checkpoint: &'static str,
    pub no_checkpoint: &'static str,
    pub events_signed: &'static str,
    pub signed_at: &'static str,
    pub tree_root: &'static str,
    pub public_key: &'static str,
    pub inclusion_proof: &'static str,
    pub access_log: &'static str,
    pub read_at: &'static str,
    pub reader: &'static str,
    pub purpose: &'static str,
    pub categories: &'static str,
    pub endpoint: &'static str,
    pub withheld: &'static str,
    pub not_for_role: &'static str,
    pub back: &'static str,
    pub earlier: &'static str,
    pub later: &'static str,
    pub none: &'static str,
    pub error: &'static str,
}

static DA: Words = Words {
    language_name: "Dansk",
    switch_to: "English",
    skip: "Spring til indholdet",
    console: "brobyg konsol",
    dev_banner: "Udviklingslogin: denne session bruger et token, som serveren selv har udstedt. Brug ikke rigtige persondata.",
    sign_in: "Log ind",
    sign_in_with: "Log ind hos",
    sign_out: "Log ud",
    signed_in_as: "Logget ind som",
    organisation: "Organisation",
    role: "Rolle",
    user: "Bruger",
    no_sign_in: "Konsollen har intet login: sæt BROBYG_OIDC_CLIENT_ID, BROBYG_JWT_ISSUER og BROBYG_PUBLIC_URL.",
    home: "Forside",
    find_case: "Find en sag",
    case_id: "Sagens id",
    show: "Vis",
    caseload: "Sager",
    waiting_list: "Venteliste",
    days_waiting: "Dage på venteliste",
    name: "Navn",
    age: "Alder",
    state: "Tilstand",
    next_deadline: "Næste frist",
    waits_for: "Venter på",
    programme: "Forløb",
    eligible_volunteers: "Mulige frivillige",
    blockers: "Forhindringer",
    timeline: "Tidslinje",
    sequence: "Nr.",
    time: "Tidspunkt",
    event: "Hændelse",
    actor: "Aktør",
    checkpoint: "Kontrolpunkt",
    basis: "Grundlag",
    moment: "Tidspunkt i sagen",
    seen_by: "Set af",
    as_auditor: "min organisation",
    as_it_stood: "Sagen, som den stod",
    case_now: "Sagen nu",
    items: "Oplysninger",
    category: "Kategori",
    owner: "Ejer",
    content: "Indhold",
    consents: "Samtykker",
    disclosures: "Videregivelser",
    disclosed: "Videregivet",
    recipients: "Modtagere",
    concerns: "Underretninger",
    reported: "Modtaget",
    assessment_due: "Vurdering senest",
    receipt_due: "Kvittering senest",
    working_days: "arbejdsdage",
    acknowledged: "Kvitteret",
    on_time: "rettidigt",
    late: "for sent",
    overdue: "overskredet",
    pending: "afventer",
    new: "ny",
    changed: "ændret",
    gone: "ikke længere synlig",
    nothing_visible: "Intet synligt",
    redacted: "Skjulte kategorier",
    verification: "Verifikation",
    verify_now: "Verificér hash-kæder og kontrolpunkter nu",
    verified_ok: "Alle hash-kæder og signerede kontrolpunkter stemmer",
    verified_bad: "Verifikationen fandt fejl",
    latest_checkpoint: "Seneste signerede kontrolpunkt",
    no_checkpoint: "Endnu intet signeret kontrolpunkt",
    events_signed: "hændelser signeret",
    signed_at: "Signeret",
    tree_root: "Merkle-rod",
    public_key: "Offentlig nøgle",
    inclusion_proof: "Hent inklusionsbevis for hændelse",
    access_log: "Adgangslog",
    read_at: "Læst",
    reader: "Læser",
    purpose: "Formål",
    categories: "Kategorier",
    endpoint: "Hvor",
    withheld: "tilbageholdt",
    not_for_role: "Konsollen er for revisorer, koordinatorer og sagsbehandlere.",
    back: "Tilbage",
    earlier: "Før",
    later: "Efter",
    none: "Ingen",
    error: "Fejl",
};

static EN: Words = Words {
    language_name: "English",
    switch_to: "Dansk",
    skip: "Skip to content",
    console: "brobyg console",
    dev_banner: "Development sign-in: this session uses a token the server minted itself. Do not use real personal data.",
    sign_in: "Sign in",
    sign_in_with: "Sign in with",
    sign_out: "Sign out",
    signed_in_as: "Signed in as",
    organisation: "Organisation",
    role: "Role",
    user: "User",
    no_sign_in: "The console has no sign-in: set BROBYG_OIDC_CLIENT_ID, BROBYG_JWT_ISSUER and BROBYG_PUBLIC_URL.",
    home: "Home",
    find_case: "Find a case",
    case_id: "Case id",
    show: "Show",
    caseload: "Caseload",
    waiting_list: "Waiting list",
    days_waiting: "Days waiting",
    name: "Name",
    age: "Age",
    state: "State",
    next_deadline: "Next deadline",
    waits_for: "Waits for",
    programme: "Programme",
    eligible_volunteers: "Eligible volunteers",
    blockers: "Blockers",
    timeline: "Timeline",
    sequence: "No.",
    time: "Time",
    event: "Event",
    actor: "Actor",
    checkpoint: "Checkpoint",
    basis: "Basis",
    moment: "Moment in the case",
    seen_by: "Seen by",
    as_auditor: "my organisation",
    as_it_stood: "The case as it stood",
    case_now: "The case now",
    items: "Items",
    category: "Category",
    owner: "Owner",
    content: "Content",
    consents: "Consents",
    disclosures: "Disclosures",
    disclosed: "Disclosed",
    recipients: "Recipients",
    concerns: "Concerns",
    reported: "Reported",
    assessment_due: "Assessment due",
    receipt_due: "Receipt due",
    working_days: "working days",
    acknowledged: "Acknowledged",
    on_time: "on time",
    late: "late",
    overdue: "overdue",
    pending: "pending",
    new: "new",
    changed: "changed",
    gone: "no longer visible",
    nothing_visible: "Nothing visible",
    redacted: "Hidden categories",
    verification: "Verification",
    verify_now: "Verify hash chains and checkpoints now",
    verified_ok: "Every hash chain and signed checkpoint holds",
    verified_bad: "Verification found problems",
    latest_checkpoint: "Latest signed checkpoint",
    no_checkpoint: "No signed checkpoint yet",
    events_signed: "events signed",
    signed_at: "Signed",
    tree_root: "Merkle root",
    public_key: "Public key",
    inclusion_proof: "Download the inclusion proof of event",
    access_log: "Access log",
    read_at: "Read",
    reader: "Reader",
    purpose: "Purpose",
    categories: "Categories",
    endpoint: "Where",
    withheld: "withheld",
    not_for_role: "The console is for auditors, coordinators and caseworkers.",
    back: "Back",
    earlier: "Earlier",
    later: "Later",
    none: "None",
    error: "Error",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_wins_over_the_browser_and_danish_is_the_default() {
        assert_eq!(Lang::choose(Some("en"), Some("da-DK")), Lang::En);
        assert_eq!(Lang::choose(None, Some("en-GB,en;q=0.9")), Lang::En);
        assert_eq!(Lang::choose(None, Some("de-DE")), Lang::Da);
        assert_eq!(Lang::choose(Some("xx"), None), Lang::Da);
    }
}
