//! RouterOS v7 REST (placeholder).
