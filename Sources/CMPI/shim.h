// Open MPI's handles (MPI_COMM_WORLD, MPI_BYTE, ...) are macros over addresses of library globals, which Swift
// cannot import: these inline functions hand them to Swift. Only the opt-in build (TINT_MPI=1) uses this module.
#include <mpi.h>

static inline MPI_Comm tint_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype tint_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Errhandler tint_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Status *tint_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Request tint_mpi_request_null(void) { return MPI_REQUEST_NULL; }
