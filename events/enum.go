package events

// Enum is implemented by the contract's named string types whose values are
// a closed set, such as PresenceStatus. The TypeScript generator writes such
// a type as a union of its string literals, so the client's compiler checks
// the values; the server checks them in Validate.
//
// Values must not depend on the receiver: the generator calls it on the
// zero value.
type Enum interface {
	Values() []string
}
