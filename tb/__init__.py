"""cocotb testbenches of the generated Verilog and the runner that builds and runs them."""
