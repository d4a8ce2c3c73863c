// Starts GraphiQL on the endpoint that served this page (/graphql or /graphql/<domain>);
// the user types the API key into the headers tab.
const fetcher = GraphiQL.createFetcher({ url: window.location.pathname });
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, { fetcher, defaultHeaders: '{"Authorization": "Bearer "}' }),
);
