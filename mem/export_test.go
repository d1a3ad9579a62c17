package mem

// Hooks for the external tests.
var (
	PackWordsForTest        = packWords
	PackWordsGenericForTest = packWordsGeneric
)
