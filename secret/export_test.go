package secret

// MaxIdlePages is maxIdle, for the tests.
const MaxIdlePages = 4
