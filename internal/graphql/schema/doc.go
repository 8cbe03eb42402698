// Package schema is the GraphQL schema of /graphql (schema.graphqls) and
// the code gqlgen generates from it (generated.go, models.go; never edited
// by hand). Package graphql implements its resolvers.
package schema

//go:generate go tool gqlgen generate
