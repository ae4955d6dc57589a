default_scope = 'fusionbench'
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
log_level = 'WARNING'
log_processor = dict(by_epoch=False)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # At epoch ends: a killed epoch-based run resumes at the start of the epoch it was in and
    # ends bit-identical to an uninterrupted run (a mid-epoch checkpoint would replay a whole
    # epoch on resume: mmengine's epoch loop restarts epochs from their first batch). The
    # protocols that run an iteration budget switch to by_epoch=False.
    checkpoint=dict(type='CheckpointHook', by_epoch=True, interval=1, max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
custom_hooks = [dict(type='FiniteLossHook'), dict(type='GammaSparsityHook', interval=50),
                dict(type='GammaDynamicsHook', interval=50)]
# No evaluator here: the config's task supplies it (fusionbench.tasks; segmentation's is
# MultiHeadIoUMetric) when a protocol resolves the config; a config may still set its own.
# Training curves (loss, learning rate, validation metrics at each logged iteration) as JSON in
# each run's work dir (<work_dir>/<timestamp>/vis_data/scalars.json). For TensorBoard, install
# `tensorboard` and override: visualizer = dict(vis_backends=[dict(type='TensorboardVisBackend')])
visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
resume = True
randomness = dict(seed=0, deterministic=False)
