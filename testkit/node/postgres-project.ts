/** Set up by the jest project `postgres`: the platform suite's test platforms keep their state in PostgreSQL. */
process.env.PROVISIO_TEST_DATABASE = "postgres";
