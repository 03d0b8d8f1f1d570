// A fake CUDA driver for checks of the Java host code without a GPU (CudaFakeDriverTest): every
// driver function LWJGL binds exists; memory calls work on host memory; kernels and graphs are
// accepted but not run. sluice_fake_stats() reports what leaked. Generated list of stubs: the
// function names LWJGL 3.3.6's org.lwjgl.cuda.CU looks up.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long allocs, modules, events, retained, launches, graphs, execs, graphLaunches;
static int capturing;

__attribute__((destructor)) static void report(void) {
  fprintf(stderr, "fake-cuda: allocs=%ld modules=%ld retained=%ld execs=%ld graphs=%ld launches=%ld graphLaunches=%ld\n",
          allocs, modules, retained, execs, graphs, launches, graphLaunches);
}

const char* sluice_fake_stats(void) {
  static char buf[256];
  snprintf(buf, sizeof buf, "allocs=%ld modules=%ld retained=%ld launches=%ld graphs=%ld execs=%ld graphLaunches=%ld",
           allocs, modules, retained, launches, graphs, execs, graphLaunches);
  return buf;
}

int cuArray3DCreate_v2(void) { return 0; }
int cuArray3DGetDescriptor_v2(void) { return 0; }
int cuArrayCreate_v2(void) { return 0; }
int cuArrayDestroy(void) { return 0; }
int cuArrayGetDescriptor_v2(void) { return 0; }
int cuArrayGetMemoryRequirements(void) { return 0; }
int cuArrayGetPlane(void) { return 0; }
int cuArrayGetSparseProperties(void) { return 0; }
int cuCoredumpGetAttribute(void) { return 0; }
int cuCoredumpGetAttributeGlobal(void) { return 0; }
int cuCoredumpSetAttribute(void) { return 0; }
int cuCoredumpSetAttributeGlobal(void) { return 0; }
int cuCtxAttach(void) { return 0; }
int cuCtxCreate_v2(void) { return 0; }
int cuCtxCreate_v3(void) { return 0; }
int cuCtxCreate_v4(void) { return 0; }
int cuCtxDestroy_v2(void) { return 0; }
int cuCtxDetach(void) { return 0; }
int cuCtxDisablePeerAccess(void) { return 0; }
int cuCtxEnablePeerAccess(void) { return 0; }
int cuCtxFromGreenCtx(void) { return 0; }
int cuCtxGetApiVersion(void) { return 0; }
int cuCtxGetCacheConfig(void) { return 0; }
int cuCtxGetCurrent(void) { return 0; }
int cuCtxGetDevResource(void) { return 0; }
int cuCtxGetDevice(void) { return 0; }
int cuCtxGetExecAffinity(void) { return 0; }
int cuCtxGetFlags(void) { return 0; }
int cuCtxGetId(void) { return 0; }
int cuCtxGetLimit(void) { return 0; }
int cuCtxGetSharedMemConfig(void) { return 0; }
int cuCtxGetStreamPriorityRange(void) { return 0; }
int cuCtxPopCurrent_v2(void) { return 0; }
int cuCtxPushCurrent_v2(void) { return 0; }
int cuCtxRecordEvent(void) { return 0; }
int cuCtxResetPersistingL2Cache(void) { return 0; }
int cuCtxSetCacheConfig(void) { return 0; }
int cuCtxSetCurrent(void* c) { return c == (void*)0x1000 ? 0 : 201; }
int cuCtxSetFlags(void) { return 0; }
int cuCtxSetLimit(void) { return 0; }
int cuCtxSetSharedMemConfig(void) { return 0; }
int cuCtxSynchronize(void) { return 0; }
int cuCtxWaitEvent(void) { return 0; }
int cuDestroyExternalMemory(void) { return 0; }
int cuDestroyExternalSemaphore(void) { return 0; }
int cuDevResourceGenerateDesc(void) { return 0; }
int cuDevSmResourceSplitByCount(void) { return 0; }
int cuDeviceCanAccessPeer(void) { return 0; }
int cuDeviceComputeCapability(void) { return 0; }
int cuDeviceGet(int* d, int ord) { if (ord != 0) return 101; *d = 0; return 0; }
int cuDeviceGetAttribute(int* v, int attr, int dev) { *v = attr == 75 ? 9 : attr == 76 ? 0 : attr == 16 ? 132 : 0; return 0; }
int cuDeviceGetByPCIBusId(void) { return 0; }
int cuDeviceGetCount(int* n) { *n = 1; return 0; }
int cuDeviceGetDefaultMemPool(void) { return 0; }
int cuDeviceGetDevResource(void) { return 0; }
int cuDeviceGetExecAffinitySupport(void) { return 0; }
int cuDeviceGetGraphMemAttribute(void) { return 0; }
int cuDeviceGetLuid(void) { return 0; }
int cuDeviceGetMemPool(void) { return 0; }
int cuDeviceGetName(char* name, int len, int dev) { snprintf(name, len, "Fake GPU (no kernels run)"); return 0; }
int cuDeviceGetNvSciSyncAttributes(void) { return 0; }
int cuDeviceGetP2PAttribute(void) { return 0; }
int cuDeviceGetPCIBusId(void) { return 0; }
int cuDeviceGetProperties(void) { return 0; }
int cuDeviceGetTexture1DLinearMaxWidth(void) { return 0; }
int cuDeviceGetUuid(void) { return 0; }
int cuDeviceGetUuid_v2(void) { return 0; }
int cuDeviceGraphMemTrim(void) { return 0; }
int cuDevicePrimaryCtxGetState(void) { return 0; }
int cuDevicePrimaryCtxRelease_v2(int dev) { retained--; return 0; }
int cuDevicePrimaryCtxReset_v2(void) { return 0; }
int cuDevicePrimaryCtxRetain(void** c, int dev) { *c = (void*)0x1000; retained++; return 0; }
int cuDevicePrimaryCtxSetFlags_v2(void) { return 0; }
int cuDeviceRegisterAsyncNotification(void) { return 0; }
int cuDeviceSetGraphMemAttribute(void) { return 0; }
int cuDeviceSetMemPool(void) { return 0; }
int cuDeviceTotalMem_v2(size_t* b, int dev) { *b = (size_t)80 << 30; return 0; }
int cuDeviceUnregisterAsyncNotification(void) { return 0; }
int cuDriverGetVersion(int* v) { *v = 13000; return 0; }
int cuEventCreate(void** e, unsigned f) { *e = (void*)(0x3000 + 8 * events++); return 0; }
int cuEventDestroy_v2(void) { return 0; }
int cuEventElapsedTime(float* ms, void* a, void* b) { *ms = 1.0f; return 0; }
int cuEventQuery(void) { return 0; }
int cuEventRecord(void) { return 0; }
int cuEventRecordWithFlags(void) { return 0; }
int cuEventSynchronize(void) { return 0; }
int cuExternalMemoryGetMappedBuffer(void) { return 0; }
int cuExternalMemoryGetMappedMipmappedArray(void) { return 0; }
int cuFlushGPUDirectRDMAWrites(void) { return 0; }
int cuFuncGetAttribute(void) { return 0; }
int cuFuncGetModule(void) { return 0; }
int cuFuncGetName(void) { return 0; }
int cuFuncGetParamInfo(void) { return 0; }
int cuFuncIsLoaded(void) { return 0; }
int cuFuncLoad(void) { return 0; }
int cuFuncSetAttribute(void) { return 0; }
int cuFuncSetBlockShape(void) { return 0; }
int cuFuncSetCacheConfig(void) { return 0; }
int cuFuncSetSharedMemConfig(void) { return 0; }
int cuFuncSetSharedSize(void) { return 0; }
int cuGetErrorName(int e, const char** s) { *s = "CUDA_ERROR_FAKE"; return 0; }
int cuGetErrorString(int e, const char** s) { *s = "fake driver error"; return 0; }
int cuGetExportTable(void) { return 0; }
int cuGetProcAddress(void) { return 0; }
int cuGetProcAddress_v2(void) { return 0; }
int cuGraphAddBatchMemOpNode(void) { return 0; }
int cuGraphAddChildGraphNode(void) { return 0; }
int cuGraphAddDependencies(void) { return 0; }
int cuGraphAddDependencies_v2(void) { return 0; }
int cuGraphAddEmptyNode(void) { return 0; }
int cuGraphAddEventRecordNode(void) { return 0; }
int cuGraphAddEventWaitNode(void) { return 0; }
int cuGraphAddExternalSemaphoresSignalNode(void) { return 0; }
int cuGraphAddExternalSemaphoresWaitNode(void) { return 0; }
int cuGraphAddHostNode(void) { return 0; }
int cuGraphAddKernelNode(void) { return 0; }
int cuGraphAddKernelNode_v2(void) { return 0; }
int cuGraphAddMemAllocNode(void) { return 0; }
int cuGraphAddMemFreeNode(void) { return 0; }
int cuGraphAddMemcpyNode(void) { return 0; }
int cuGraphAddMemsetNode(void) { return 0; }
int cuGraphAddNode(void) { return 0; }
int cuGraphAddNode_v2(void) { return 0; }
int cuGraphBatchMemOpNodeGetParams(void) { return 0; }
int cuGraphBatchMemOpNodeSetParams(void) { return 0; }
int cuGraphChildGraphNodeGetGraph(void) { return 0; }
int cuGraphClone(void) { return 0; }
int cuGraphConditionalHandleCreate(void) { return 0; }
int cuGraphCreate(void) { return 0; }
int cuGraphDebugDotPrint(void) { return 0; }
int cuGraphDestroy(void* g) { graphs--; return 0; }
int cuGraphDestroyNode(void) { return 0; }
int cuGraphEventRecordNodeGetEvent(void) { return 0; }
int cuGraphEventRecordNodeSetEvent(void) { return 0; }
int cuGraphEventWaitNodeGetEvent(void) { return 0; }
int cuGraphEventWaitNodeSetEvent(void) { return 0; }
int cuGraphExecBatchMemOpNodeSetParams(void) { return 0; }
int cuGraphExecChildGraphNodeSetParams(void) { return 0; }
int cuGraphExecDestroy(void* e) { execs--; return 0; }
int cuGraphExecEventRecordNodeSetEvent(void) { return 0; }
int cuGraphExecEventWaitNodeSetEvent(void) { return 0; }
int cuGraphExecExternalSemaphoresSignalNodeSetParams(void) { return 0; }
int cuGraphExecExternalSemaphoresWaitNodeSetParams(void) { return 0; }
int cuGraphExecGetFlags(void) { return 0; }
int cuGraphExecHostNodeSetParams(void) { return 0; }
int cuGraphExecKernelNodeSetParams(void) { return 0; }
int cuGraphExecKernelNodeSetParams_v2(void) { return 0; }
int cuGraphExecMemcpyNodeSetParams(void) { return 0; }
int cuGraphExecMemsetNodeSetParams(void) { return 0; }
int cuGraphExecNodeSetParams(void) { return 0; }
int cuGraphExecUpdate(void) { return 0; }
int cuGraphExecUpdate_v2(void) { return 0; }
int cuGraphExternalSemaphoresSignalNodeGetParams(void) { return 0; }
int cuGraphExternalSemaphoresSignalNodeSetParams(void) { return 0; }
int cuGraphExternalSemaphoresWaitNodeGetParams(void) { return 0; }
int cuGraphExternalSemaphoresWaitNodeSetParams(void) { return 0; }
int cuGraphGetEdges(void) { return 0; }
int cuGraphGetEdges_v2(void) { return 0; }
int cuGraphGetNodes(void) { return 0; }
int cuGraphGetRootNodes(void) { return 0; }
int cuGraphHostNodeGetParams(void) { return 0; }
int cuGraphHostNodeSetParams(void) { return 0; }
int cuGraphInstantiateWithFlags(void** e, void* g, unsigned long long f) { *e = (void*)0x6000; execs++; return 0; }
int cuGraphInstantiateWithParams(void) { return 0; }
int cuGraphInstantiate_v2(void) { return 0; }
int cuGraphKernelNodeCopyAttributes(void) { return 0; }
int cuGraphKernelNodeGetAttribute(void) { return 0; }
int cuGraphKernelNodeGetParams(void) { return 0; }
int cuGraphKernelNodeGetParams_v2(void) { return 0; }
int cuGraphKernelNodeSetAttribute(void) { return 0; }
int cuGraphKernelNodeSetParams(void) { return 0; }
int cuGraphKernelNodeSetParams_v2(void) { return 0; }
int cuGraphLaunch(void* e, void* s) { graphLaunches++; return 0; }
int cuGraphMemAllocNodeGetParams(void) { return 0; }
int cuGraphMemFreeNodeGetParams(void) { return 0; }
int cuGraphMemcpyNodeGetParams(void) { return 0; }
int cuGraphMemcpyNodeSetParams(void) { return 0; }
int cuGraphMemsetNodeGetParams(void) { return 0; }
int cuGraphMemsetNodeSetParams(void) { return 0; }
int cuGraphNodeFindInClone(void) { return 0; }
int cuGraphNodeGetDependencies(void) { return 0; }
int cuGraphNodeGetDependencies_v2(void) { return 0; }
int cuGraphNodeGetDependentNodes(void) { return 0; }
int cuGraphNodeGetDependentNodes_v2(void) { return 0; }
int cuGraphNodeGetEnabled(void) { return 0; }
int cuGraphNodeGetType(void) { return 0; }
int cuGraphNodeSetEnabled(void) { return 0; }
int cuGraphNodeSetParams(void) { return 0; }
int cuGraphReleaseUserObject(void) { return 0; }
int cuGraphRemoveDependencies(void) { return 0; }
int cuGraphRemoveDependencies_v2(void) { return 0; }
int cuGraphRetainUserObject(void) { return 0; }
int cuGraphUpload(void) { return 0; }
int cuGraphicsMapResources(void) { return 0; }
int cuGraphicsResourceGetMappedMipmappedArray(void) { return 0; }
int cuGraphicsResourceGetMappedPointer_v2(void) { return 0; }
int cuGraphicsResourceSetMapFlags_v2(void) { return 0; }
int cuGraphicsSubResourceGetMappedArray(void) { return 0; }
int cuGraphicsUnmapResources(void) { return 0; }
int cuGraphicsUnregisterResource(void) { return 0; }
int cuGreenCtxCreate(void) { return 0; }
int cuGreenCtxDestroy(void) { return 0; }
int cuGreenCtxGetDevResource(void) { return 0; }
int cuGreenCtxRecordEvent(void) { return 0; }
int cuGreenCtxStreamCreate(void) { return 0; }
int cuGreenCtxWaitEvent(void) { return 0; }
int cuImportExternalMemory(void) { return 0; }
int cuImportExternalSemaphore(void) { return 0; }
int cuInit(unsigned f) { return 0; }
int cuIpcCloseMemHandle(void) { return 0; }
int cuIpcGetEventHandle(void) { return 0; }
int cuIpcGetMemHandle(void) { return 0; }
int cuIpcOpenEventHandle(void) { return 0; }
int cuIpcOpenMemHandle_v2(void) { return 0; }
int cuKernelGetAttribute(void) { return 0; }
int cuKernelGetFunction(void) { return 0; }
int cuKernelGetLibrary(void) { return 0; }
int cuKernelGetName(void) { return 0; }
int cuKernelGetParamInfo(void) { return 0; }
int cuKernelSetAttribute(void) { return 0; }
int cuKernelSetCacheConfig(void) { return 0; }
int cuLaunch(void) { return 0; }
int cuLaunchCooperativeKernel(void) { return 0; }
int cuLaunchCooperativeKernelMultiDevice(void) { return 0; }
int cuLaunchGrid(void) { return 0; }
int cuLaunchGridAsync(void) { return 0; }
int cuLaunchHostFunc(void) { return 0; }
int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
    unsigned bz, unsigned smem, void* st, void** params, void** extra) {
  if (!f || !params || gx == 0 || gy == 0 || gy > 65535 || bx == 0 || bx > 1024) return 1;
  launches++;
  return 0;
}
int cuLaunchKernelEx(void) { return 0; }
int cuLibraryEnumerateKernels(void) { return 0; }
int cuLibraryGetGlobal(void) { return 0; }
int cuLibraryGetKernel(void) { return 0; }
int cuLibraryGetKernelCount(void) { return 0; }
int cuLibraryGetManaged(void) { return 0; }
int cuLibraryGetModule(void) { return 0; }
int cuLibraryGetUnifiedFunction(void) { return 0; }
int cuLibraryLoadData(void) { return 0; }
int cuLibraryLoadFromFile(void) { return 0; }
int cuLibraryUnload(void) { return 0; }
int cuLinkAddData_v2(void) { return 0; }
int cuLinkAddFile_v2(void) { return 0; }
int cuLinkComplete(void) { return 0; }
int cuLinkCreate_v2(void) { return 0; }
int cuLinkDestroy(void) { return 0; }
int cuMemAddressFree(void) { return 0; }
int cuMemAddressReserve(void) { return 0; }
int cuMemAdvise(void) { return 0; }
int cuMemAdvise_v2(void) { return 0; }
int cuMemAllocAsync(void) { return 0; }
int cuMemAllocFromPoolAsync(void) { return 0; }
int cuMemAllocHost_v2(void** p, size_t n) { *p = calloc(1, n); if (!*p) return 2; allocs++; return 0; }
int cuMemAllocManaged(void) { return 0; }
int cuMemAllocPitch_v2(void) { return 0; }
int cuMemAlloc_v2(void** p, size_t n) { *p = calloc(1, n); if (!*p) return 2; allocs++; return 0; }
int cuMemCreate(void) { return 0; }
int cuMemExportToShareableHandle(void) { return 0; }
int cuMemFreeAsync(void) { return 0; }
int cuMemFreeHost(void* p) { free(p); allocs--; return 0; }
int cuMemFree_v2(void* p) { free(p); allocs--; return 0; }
int cuMemGetAccess(void) { return 0; }
int cuMemGetAddressRange_v2(void) { return 0; }
int cuMemGetAllocationGranularity(void) { return 0; }
int cuMemGetAllocationPropertiesFromHandle(void) { return 0; }
int cuMemGetHandleForAddressRange(void) { return 0; }
int cuMemGetInfo_v2(void) { return 0; }
int cuMemHostAlloc(void) { return 0; }
int cuMemHostGetDevicePointer_v2(void) { return 0; }
int cuMemHostGetFlags(void) { return 0; }
int cuMemHostRegister_v2(void) { return 0; }
int cuMemHostUnregister(void) { return 0; }
int cuMemImportFromShareableHandle(void) { return 0; }
int cuMemMap(void) { return 0; }
int cuMemMapArrayAsync(void) { return 0; }
int cuMemPoolCreate(void) { return 0; }
int cuMemPoolDestroy(void) { return 0; }
int cuMemPoolExportPointer(void) { return 0; }
int cuMemPoolExportToShareableHandle(void) { return 0; }
int cuMemPoolGetAccess(void) { return 0; }
int cuMemPoolGetAttribute(void) { return 0; }
int cuMemPoolImportFromShareableHandle(void) { return 0; }
int cuMemPoolImportPointer(void) { return 0; }
int cuMemPoolSetAccess(void) { return 0; }
int cuMemPoolSetAttribute(void) { return 0; }
int cuMemPoolTrimTo(void) { return 0; }
int cuMemPrefetchAsync(void) { return 0; }
int cuMemPrefetchAsync_v2(void) { return 0; }
int cuMemRangeGetAttribute(void) { return 0; }
int cuMemRangeGetAttributes(void) { return 0; }
int cuMemRelease(void) { return 0; }
int cuMemRetainAllocationHandle(void) { return 0; }
int cuMemSetAccess(void) { return 0; }
int cuMemUnmap(void) { return 0; }
int cuMemcpy(void) { return 0; }
int cuMemcpy2DAsync_v2(void) { return 0; }
int cuMemcpy2DUnaligned_v2(void) { return 0; }
int cuMemcpy2D_v2(void) { return 0; }
int cuMemcpy3DAsync_v2(void) { return 0; }
int cuMemcpy3DPeer(void) { return 0; }
int cuMemcpy3DPeerAsync(void) { return 0; }
int cuMemcpy3D_v2(void) { return 0; }
int cuMemcpyAsync(void) { return 0; }
int cuMemcpyAtoA_v2(void) { return 0; }
int cuMemcpyAtoD_v2(void) { return 0; }
int cuMemcpyAtoHAsync_v2(void) { return 0; }
int cuMemcpyAtoH_v2(void) { return 0; }
int cuMemcpyDtoA_v2(void) { return 0; }
int cuMemcpyDtoDAsync_v2(void* d, const void* s, size_t n, void* st) { memcpy(d, s, n); return 0; }
int cuMemcpyDtoD_v2(void* d, const void* s, size_t n) { memcpy(d, s, n); return 0; }
int cuMemcpyDtoHAsync_v2(void* d, const void* s, size_t n, void* st) { memcpy(d, s, n); return 0; }
int cuMemcpyDtoH_v2(void* d, const void* s, size_t n) { memcpy(d, s, n); return 0; }
int cuMemcpyHtoAAsync_v2(void) { return 0; }
int cuMemcpyHtoA_v2(void) { return 0; }
int cuMemcpyHtoDAsync_v2(void* d, const void* s, size_t n, void* st) { memcpy(d, s, n); return 0; }
int cuMemcpyHtoD_v2(void* d, const void* s, size_t n) { memcpy(d, s, n); return 0; }
int cuMemcpyPeer(void) { return 0; }
int cuMemcpyPeerAsync(void) { return 0; }
int cuMemsetD16Async(void) { return 0; }
int cuMemsetD16_v2(void) { return 0; }
int cuMemsetD2D16Async(void) { return 0; }
int cuMemsetD2D16_v2(void) { return 0; }
int cuMemsetD2D32Async(void) { return 0; }
int cuMemsetD2D32_v2(void) { return 0; }
int cuMemsetD2D8Async(void) { return 0; }
int cuMemsetD2D8_v2(void) { return 0; }
int cuMemsetD32Async(unsigned* d, unsigned v, size_t n, void* st) { for (size_t i = 0; i < n; i++) d[i] = v; return 0; }
int cuMemsetD32_v2(void) { return 0; }
int cuMemsetD8Async(unsigned char* d, unsigned char v, size_t n, void* st) { memset(d, v, n); return 0; }
int cuMemsetD8_v2(void) { return 0; }
int cuMipmappedArrayCreate(void) { return 0; }
int cuMipmappedArrayDestroy(void) { return 0; }
int cuMipmappedArrayGetLevel(void) { return 0; }
int cuMipmappedArrayGetMemoryRequirements(void) { return 0; }
int cuMipmappedArrayGetSparseProperties(void) { return 0; }
int cuModuleEnumerateFunctions(void) { return 0; }
int cuModuleGetFunction(void** f, void* m, const char* name) { *f = strdup(name); return 0; }
int cuModuleGetFunctionCount(void) { return 0; }
int cuModuleGetGlobal_v2(void) { return 0; }
int cuModuleGetLoadingMode(void) { return 0; }
int cuModuleGetSurfRef(void) { return 0; }
int cuModuleGetTexRef(void) { return 0; }
int cuModuleLoad(void) { return 0; }
int cuModuleLoadData(void** m, const void* image) { *m = (void*)0x4000; modules++; return 0; }
int cuModuleLoadDataEx(void** m, const void* image, unsigned n, int* opts, void** vals) { *m = (void*)0x4000; modules++; return 0; }
int cuModuleLoadFatBinary(void) { return 0; }
int cuModuleUnload(void* m) { modules--; return 0; }
int cuMulticastAddDevice(void) { return 0; }
int cuMulticastBindAddr(void) { return 0; }
int cuMulticastBindMem(void) { return 0; }
int cuMulticastCreate(void) { return 0; }
int cuMulticastGetGranularity(void) { return 0; }
int cuMulticastUnbind(void) { return 0; }
int cuOccupancyAvailableDynamicSMemPerBlock(void) { return 0; }
int cuOccupancyMaxActiveBlocksPerMultiprocessor(void) { return 0; }
int cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(void) { return 0; }
int cuOccupancyMaxActiveClusters(void) { return 0; }
int cuOccupancyMaxPotentialBlockSize(void) { return 0; }
int cuOccupancyMaxPotentialBlockSizeWithFlags(void) { return 0; }
int cuOccupancyMaxPotentialClusterSize(void) { return 0; }
int cuParamSetSize(void) { return 0; }
int cuParamSetTexRef(void) { return 0; }
int cuParamSetf(void) { return 0; }
int cuParamSeti(void) { return 0; }
int cuParamSetv(void) { return 0; }
int cuPointerGetAttribute(void) { return 0; }
int cuPointerGetAttributes(void) { return 0; }
int cuPointerSetAttribute(void) { return 0; }
int cuSignalExternalSemaphoresAsync(void) { return 0; }
int cuStreamAddCallback(void) { return 0; }
int cuStreamAttachMemAsync(void) { return 0; }
int cuStreamBatchMemOp_v2(void) { return 0; }
int cuStreamBeginCapture(void) { return 0; }
int cuStreamBeginCaptureToGraph(void) { return 0; }
int cuStreamBeginCapture_v2(void* s, int mode) { if (capturing) return 900; capturing = 1; return 0; }
int cuStreamCopyAttributes(void) { return 0; }
int cuStreamCreate(void** s, unsigned f) { *s = (void*)0x2000; return 0; }
int cuStreamCreateWithPriority(void) { return 0; }
int cuStreamDestroy_v2(void) { return 0; }
int cuStreamEndCapture(void* s, void** g) { if (!capturing) return 901; capturing = 0; *g = (void*)0x5000; graphs++; return 0; }
int cuStreamGetAttribute(void) { return 0; }
int cuStreamGetCaptureInfo(void) { return 0; }
int cuStreamGetCaptureInfo_v2(void) { return 0; }
int cuStreamGetCaptureInfo_v3(void) { return 0; }
int cuStreamGetCtx(void) { return 0; }
int cuStreamGetCtx_v2(void) { return 0; }
int cuStreamGetFlags(void) { return 0; }
int cuStreamGetGreenCtx(void) { return 0; }
int cuStreamGetId(void) { return 0; }
int cuStreamGetPriority(void) { return 0; }
int cuStreamIsCapturing(void) { return 0; }
int cuStreamQuery(void) { return 0; }
int cuStreamSetAttribute(void) { return 0; }
int cuStreamSynchronize(void) { return 0; }
int cuStreamUpdateCaptureDependencies(void) { return 0; }
int cuStreamUpdateCaptureDependencies_v2(void) { return 0; }
int cuStreamWaitEvent(void) { return 0; }
int cuStreamWaitValue32_v2(void) { return 0; }
int cuStreamWaitValue64_v2(void) { return 0; }
int cuStreamWriteValue32_v2(void) { return 0; }
int cuStreamWriteValue64_v2(void) { return 0; }
int cuSurfObjectCreate(void) { return 0; }
int cuSurfObjectDestroy(void) { return 0; }
int cuSurfObjectGetResourceDesc(void) { return 0; }
int cuSurfRefGetArray(void) { return 0; }
int cuSurfRefSetArray(void) { return 0; }
int cuTensorMapEncodeIm2col(void) { return 0; }
int cuTensorMapEncodeTiled(void) { return 0; }
int cuTensorMapReplaceAddress(void) { return 0; }
int cuTexObjectCreate(void) { return 0; }
int cuTexObjectDestroy(void) { return 0; }
int cuTexObjectGetResourceDesc(void) { return 0; }
int cuTexObjectGetResourceViewDesc(void) { return 0; }
int cuTexObjectGetTextureDesc(void) { return 0; }
int cuTexRefCreate(void) { return 0; }
int cuTexRefDestroy(void) { return 0; }
int cuTexRefGetAddressMode(void) { return 0; }
int cuTexRefGetAddress_v2(void) { return 0; }
int cuTexRefGetArray(void) { return 0; }
int cuTexRefGetBorderColor(void) { return 0; }
int cuTexRefGetFilterMode(void) { return 0; }
int cuTexRefGetFlags(void) { return 0; }
int cuTexRefGetFormat(void) { return 0; }
int cuTexRefGetMaxAnisotropy(void) { return 0; }
int cuTexRefGetMipmapFilterMode(void) { return 0; }
int cuTexRefGetMipmapLevelBias(void) { return 0; }
int cuTexRefGetMipmapLevelClamp(void) { return 0; }
int cuTexRefGetMipmappedArray(void) { return 0; }
int cuTexRefSetAddress2D_v3(void) { return 0; }
int cuTexRefSetAddressMode(void) { return 0; }
int cuTexRefSetAddress_v2(void) { return 0; }
int cuTexRefSetArray(void) { return 0; }
int cuTexRefSetBorderColor(void) { return 0; }
int cuTexRefSetFilterMode(void) { return 0; }
int cuTexRefSetFlags(void) { return 0; }
int cuTexRefSetFormat(void) { return 0; }
int cuTexRefSetMaxAnisotropy(void) { return 0; }
int cuTexRefSetMipmapFilterMode(void) { return 0; }
int cuTexRefSetMipmapLevelBias(void) { return 0; }
int cuTexRefSetMipmapLevelClamp(void) { return 0; }
int cuTexRefSetMipmappedArray(void) { return 0; }
int cuThreadExchangeStreamCaptureMode(void) { return 0; }
int cuUserObjectCreate(void) { return 0; }
int cuUserObjectRelease(void) { return 0; }
int cuUserObjectRetain(void) { return 0; }
int cuWaitExternalSemaphoresAsync(void) { return 0; }
