/* toy_main.c - the toy model as a stand-alone program, the way a compiled
 * model is one: main() hands everything to dlrt_main. */
#include "toy_model.h"

int main(int argc, char **argv)
{
	toy_config c = {3, 2, 4, DLRT_F64, 0, 0, 0, 0};
	int rc = dlrt_main(toy_build(&c), argc, argv);
	toy_free();
	return rc;
}
