//! Owns [`ZoneHandle`], the reloadable zone: each version ([`Zone`]) bundles the fast path's
//! prepared answers and the hickory catalog built from the same validated data. `replace`
//! builds the new version completely and then swaps one pointer (arc-swap), so a query sees
//! either the old or the new zone, never a mix, and queries in flight keep their version alive.

use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use hickory_proto::rr::LowerName;
use hickory_server::zone_handler::Catalog;

use super::{
    answers::AnswerTable,
    general,
    zone::{ValidZone, ZoneData, ZoneError},
};

/// One immutable version of the zone.
pub(crate) struct Zone {
    pub(crate) table: AnswerTable,
    pub(crate) catalog: Catalog,
    pub(crate) origin: LowerName,
    serial: u32,
}

impl Zone {
    fn build(data: &ZoneData) -> Result<Self, ZoneError> {
        let valid = ValidZone::new(data)?;
        Ok(Self {
            table: AnswerTable::build(&valid)?,
            catalog: general::zone_catalog(&valid),
            origin: LowerName::new(&valid.origin.to_hickory()),
            serial: valid.serial,
        })
    }
}

/// Shared, atomically replaceable zone. Cheap to clone; all clones see the same zone.
#[derive(Clone)]
pub struct ZoneHandle {
    current: Arc<ArcSwap<Zone>>,
}

impl std::fmt::Debug for ZoneHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let zone = self.current.load();
        f.debug_struct("ZoneHandle")
            .field("origin", &zone.origin.to_string())
            .field("serial", &zone.serial)
            .finish()
    }
}

impl ZoneHandle {
    /// Validates `data` and prepares all answers.
    pub fn new(data: ZoneData) -> Result<Self, ZoneError> {
        Ok(Self {
            current: Arc::new(ArcSwap::from_pointee(Zone::build(&data)?)),
        })
    }

    /// Replaces the zone. The new zone is validated and fully built before the swap; on error
    /// the old zone stays in service and the error is returned.
    pub fn replace(&self, data: ZoneData) -> Result<(), ZoneError> {
        let zone = Zone::build(&data)?;
        self.current.store(Arc::new(zone));
        Ok(())
    }

    /// Serial of the zone currently served.
    pub fn serial(&self) -> u32 {
        self.current.load().serial
    }

    /// Origin of the zone currently served (lowercase, absolute).
    pub fn origin(&self) -> String {
        self.current.load().origin.to_string()
    }

    /// Borrows the current zone for one query (cheap, no reference count traffic).
    pub(crate) fn load(&self) -> Guard<Arc<Zone>> {
        self.current.load()
    }

    /// Takes a reference to the current zone for a query that awaits.
    pub(crate) fn load_full(&self) -> Arc<Zone> {
        self.current.load_full()
    }
}
