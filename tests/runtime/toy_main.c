/* toy_main.c - the toy model as a stand-alone program, the way a compiled
 * model is one: main() hands everything to dlrt_main. */
#include "toy_model.h"

int main(int argc, char **argv)
{
	toy_config c = {.features = 3, .outputs = 2, .batch = 4, .dtype = DLRT_F64};
	int rc = dlrt_main(toy_build(&c), argc, argv);
	toy_free();
	return rc;
}
