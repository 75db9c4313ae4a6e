/** Set up by the jest project `cluster`: the platform suite runs against the cluster mode. */
process.env.PROVISIO_TEST_MODE = "cluster";
