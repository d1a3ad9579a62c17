package realtime

// AuditWith is Audit reading the settings through read, for tests of the
// values a machine at hand does not have.
var AuditWith = audit
