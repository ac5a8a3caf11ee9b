//! rosidl type support <-> CDR (XCDR1 LE). Filled in by its work.
