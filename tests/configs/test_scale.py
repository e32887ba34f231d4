"""Scale-out config variants (TPU pod, multi-GPU, CPU processes): batches, lr, data_dir."""

import pytest

from kd_ntk.experiment import student_runs
from kd_ntk.grid import records
from kd_ntk.configs import reproduce, scale, teacher


def test_pod_teacher_scales_batch_and_lr_linearly_with_warmup():
  config = scale.get_config("teacher,cifar100,tpu_pod,data_dir=/data/tfds")
  base = teacher.get_config("cifar100")
  assert (config.dataset, config.model, config.epochs) == (
    "cifar100",
    "resnet56",
    256,
  )
  assert config.batch_size == 2048 and config.eval_batch_size % 2048 == 0
  assert config.optimizer.learning_rate == pytest.approx(
    base.optimizer.learning_rate * 16
  )
  assert (
    config.optimizer.warmup_epochs == 5.0 and config.data_dir == "/data/tfds"
  )
  assert (
    config.scale.global_batch == 2048 and config.scale.platform == "tpu_pod"
  )


def test_reproduce_scales_teacher_and_students():
  config = scale.get_config("cifar10,multi_gpu,global_batch=512,lr_rule=sqrt")
  base = reproduce.get_config("cifar10")
  assert (
    config.teacher.batch_size == 512 and config.teacher.eval_batch_size == 1024
  )
  assert config.teacher.optimizer.learning_rate == pytest.approx(
    base.teacher.optimizer.learning_rate * 2
  )
  assert config.students_run.learning_rate == pytest.approx(
    base.students_run.learning_rate * 2
  )
  assert config.students == base.students and config.teacher.model == "resnet56"
  assert config.students_run.warmup_epochs == 5.0
  student = student_runs.student_config(
    config.students_run,
    config.teacher,
    teacher_dir="teacher",
    student=records.Student("lenet5", "lenet5", 1),
    method=records.TeachingMethod("online", "online", 4.0),
    seed=0,
  )
  assert student.optimizer.warmup_epochs == 5.0
  assert student.optimizer.learning_rate == config.students_run.learning_rate


def test_cpu_platform_keeps_the_paper_learning_rate():
  assert scale.get_config("cpu,quick").students_run.warmup_epochs == 0.0
  config = scale.get_config("teacher,cpu,quick")
  assert config.batch_size == 128 and config.optimizer.warmup_epochs == 0.0
  assert (
    config.optimizer.learning_rate
    == teacher.get_config("cifar10").optimizer.learning_rate
  )
  assert config.model == "cnn_tiny" and config.train_subset == 512


def test_mobilenet_and_ordinary_overrides():
  config = scale.get_config("reproduce,mobilenet,tpu_pod,teacher.epochs=3")
  assert (
    config.teacher.model == "mobilenetv3_wide" and config.teacher.epochs == 3
  )
  assert scale.get_config("teacher,mobilenet").model == "mobilenetv3_wide"


@pytest.mark.parametrize(
  "arg,error,message",
  [
    ("tpu_pod,multi_gpu", ValueError, "choose one platform"),
    ("teacher,reproduce", ValueError, "choose one job"),
    ("cifar10,lr_rule=cubic", ValueError, "lr_rule='cubic'"),
    ("global_batch=0", ValueError, "must be positive"),
    ("v5e", ValueError, "unknown variant"),
    ("teacher,epoch=3", ValueError, "Unknown config field .epoch."),
  ],
)
def test_bad_arguments_fail_with_a_clear_message(arg, error, message):
  with pytest.raises(error, match=message):
    scale.get_config(arg)


@pytest.mark.parametrize(
  "arg",
  [
    "teacher,cifar100,tpu_pod",
    "teacher,mobilenet,multi_gpu",
    "teacher,cpu,quick",
  ],
)
def test_teacher_variants_pass_the_training_validation(arg):
  from kd_ntk.train import preflight

  preflight.check_training_config(scale.get_config(arg))


@pytest.mark.parametrize(
  "arg", ["cifar10,tpu_pod", "cifar100,multi_gpu", "mobilenet,tpu_pod", "quick"]
)
def test_reproduce_variants_pass_the_grid_validation(arg, tmp_path):
  from kd_ntk.experiment import preflight
  from kd_ntk.experiment.reproduction_plan import plan_of

  config = scale.get_config(arg)
  preflight.check_reproduce_runs(plan_of(config), str(tmp_path))
